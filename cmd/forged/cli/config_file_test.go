package cli

import (
	"os"
	"path/filepath"
	"testing"
)

func TestConfigFileSetsFlagsAndFlagsWin(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "forged.yaml")
	os.WriteFile(path, []byte("data-dir: /var/lib/forged\nname: n1\njoin: [10.0.0.2:7946, 10.0.0.3:7946]\nlabel: {zone: a, disk: ssd}\nbootstrap-expect: 3\nslots: 8\n"), 0o644)
	g := &globals{stdout: os.Stdout, stderr: os.Stderr}
	cmd := newAgentCmd(g)
	if err := cmd.Flags().Parse([]string{"--name", "cli-name"}); err != nil {
		t.Fatal(err)
	}
	if err := applyConfigFile(cmd, path); err != nil {
		t.Fatal(err)
	}
	get := func(name string) string { return cmd.Flags().Lookup(name).Value.String() }
	if get("data-dir") != "/var/lib/forged" || get("name") != "cli-name" || get("bootstrap-expect") != "3" || get("slots") != "8" {
		t.Fatalf("flags: data-dir %s name %s expect %s slots %s", get("data-dir"), get("name"), get("bootstrap-expect"), get("slots"))
	}
	if get("join") != "[10.0.0.2:7946,10.0.0.3:7946]" || get("label") != "[disk=ssd,zone=a]" {
		t.Fatalf("lists: join %s label %s", get("join"), get("label"))
	}
	os.WriteFile(path, []byte("data-dri: x\n"), 0o644)
	if err := applyConfigFile(newAgentCmd(g), path); err == nil {
		t.Fatal("an unknown setting must be an error")
	}
}
