package consensus

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// The state file is written without fsync: the raft log, which is synced
// on every append, is the durable record, and the state can always be
// rebuilt from the latest snapshot and the log after it. A process that
// is killed loses nothing (the kernel still writes its pages), but a
// machine that loses power may leave a torn file. So while the state is
// open a marker file holds the machine's boot ID; a marker left behind by
// an earlier boot means the machine went down with the state open, and
// the file is set aside to be rebuilt.

// bootIDPath names the kernel's per-boot random ID (Linux).
const bootIDPath = "/proc/sys/kernel/random/boot_id"

// bootID returns this boot's ID, or nil where there is none to read.
func bootID() []byte {
	b, err := os.ReadFile(bootIDPath)
	if err != nil {
		return nil
	}
	return bytes.TrimSpace(b)
}

func markerPath(statePath string) string { return statePath + ".open" }

// checkUncleanState sets the state file aside when the marker says it
// was open when the machine went down (or when that cannot be ruled out),
// and reports whether it did.
func checkUncleanState(statePath string, log *slog.Logger) (bool, error) {
	marker, err := os.ReadFile(markerPath(statePath))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", markerPath(statePath), err)
	}
	if id := bootID(); id != nil && bytes.Equal(bytes.TrimSpace(marker), id) {
		return false, nil // the process died, the machine did not: the file is whole
	}
	if _, err := os.Stat(statePath); errors.Is(err, os.ErrNotExist) {
		return false, os.Remove(markerPath(statePath))
	}
	aside := fmt.Sprintf("%s.unclean-%d", statePath, time.Now().Unix())
	if err := os.Rename(statePath, aside); err != nil {
		return false, fmt.Errorf("set aside state file after an unclean shutdown: %w", err)
	}
	log.Warn("the machine went down while the state file was open; it is rebuilt from the raft snapshot and log",
		"set_aside", aside)
	return true, os.Remove(markerPath(statePath))
}

// writeMarker records that the state file is open in this boot.
func writeMarker(statePath string) error {
	id := bootID()
	if id == nil {
		id = []byte("unknown")
	}
	if err := writeFile(markerPath(statePath), bytes.NewReader(id)); err != nil {
		return fmt.Errorf("write state marker: %w", err)
	}
	return nil
}

// removeMarker records a clean close, after the state file was synced.
func removeMarker(statePath string) error {
	if err := os.Remove(markerPath(statePath)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove state marker: %w", err)
	}
	return nil
}

// statePath is the state file of a store whose files live in dir.
func statePath(dir string) string { return filepath.Join(dir, stateDBFile) }
