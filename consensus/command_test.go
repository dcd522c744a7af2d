package consensus

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/forged-dev/forged/dag"
)

// sampleCommands has one of each command, filled in.
func sampleCommands() []Command {
	run := newRun("01jabcdefg123456", chain, 2)
	return []Command{
		&PutPipeline{Name: "chain", Description: "d", Format: "json", Source: "{}", At: t0},
		&SubmitRun{Run: run, Pipeline: putChain("v1")},
		&SubmitRun{Run: run},
		&AssignTasks{At: t0, Assignments: []Assignment{{Run: "r", Task: "a", Node: "n1"}, {Run: "r", Task: "b", Node: "n2"}}},
		&ReportTasks{At: t0, Reports: []TaskReport{
			{Run: "r", Task: "a", Attempt: 1, Node: "n1", Kind: ReportStarted},
			{Run: "r", Task: "a", Attempt: 1, Node: "n1", Kind: ReportFinished, Result: &dag.TaskResult{
				LogTail: "ok", Outputs: []dag.OutputMeta{{Name: "out", Rows: 2, Schema: []dag.Field{{Name: "x", Type: "int64"}}}},
				Metrics: map[string]any{"acc": 0.5},
			}},
			{Run: "r", Task: "b", Attempt: 3, Node: "n2", Kind: ReportLost, Reason: "gone"},
		}},
		&CancelRun{RunID: "r", Reason: "user", At: t0},
		&FailRun{RunID: "r", Reason: "broken", At: t0},
		&RetryRun{RunID: "r", Budget: map[string]int{"a": 3}},
		&AddReplicas{Kind: ReplicaOutput, Run: "r", Task: "a", Output: "out", Nodes: []string{"n2", "n3"}},
		&AddReplicas{Kind: ReplicaDataset, Dataset: "sales", Version: 2, Output: "u1", Nodes: []string{"n2"}},
		&AddReplicas{Kind: ReplicaModel, Model: "churn", Version: 1, Nodes: []string{"n4"}},
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, cmd := range sampleCommands() {
		b, err := Encode(cmd)
		if err != nil {
			t.Fatalf("encode %s: %v", cmd.Type(), err)
		}
		if CommandType(b[0]) != cmd.Type() {
			t.Fatalf("type byte %d, want %d", b[0], cmd.Type())
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("decode %s: %v", cmd.Type(), err)
		}
		// A run's params come back as JSON types (float64 for 1), so runs
		// compare by their encoding; the rest compare as values.
		if again, _ := Encode(got); !bytes.Equal(again, b) {
			t.Errorf("%s round trip:\n got %s\nwant %s", cmd.Type(), again, b)
		}
		if _, isRun := cmd.(*SubmitRun); !isRun && !reflect.DeepEqual(got, cmd) {
			t.Errorf("%s round trip:\n got %#v\nwant %#v", cmd.Type(), got, cmd)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	if _, err := Encode(nil); err == nil {
		t.Error("encode nil: no error")
	}
	for name, b := range map[string][]byte{
		"empty":       nil,
		"bad json":    append([]byte{byte(TypeCancelRun)}, `{"run_id":`...),
		"wrong shape": append([]byte{byte(TypeAssignTasks)}, `{"assignments":"x"}`...),
		"trailing":    append([]byte{byte(TypeCancelRun)}, `{} {}`...),
	} {
		if _, err := Decode(b); err == nil || errors.Is(err, ErrUnknownCommand) {
			t.Errorf("%s: err = %v, want a decode error", name, err)
		}
	}
}

func TestUnknownCommandFlag(t *testing.T) {
	unknown := []byte{0x7f, '{', '}'}
	_, err := Decode(unknown)
	if !errors.Is(err, ErrUnknownCommand) {
		t.Fatalf("unknown type: %v", err)
	}
	if skippable(unknown, err) {
		t.Fatal("an unknown type without the flag must not be skippable")
	}
	flagged := []byte{byte(IgnoreUnknownTypeFlag | 0x7f), '{', '}'}
	_, err = Decode(flagged)
	if !errors.Is(err, ErrUnknownCommand) || !skippable(flagged, err) {
		t.Fatalf("flagged unknown type: err %v, skippable %v", err, skippable(flagged, err))
	}
	// A known type with the flag is still that command.
	b, _ := Encode(&CancelRun{RunID: "r"})
	b[0] |= byte(IgnoreUnknownTypeFlag)
	cmd, err := Decode(b)
	if err != nil || cmd.(*CancelRun).RunID != "r" {
		t.Fatalf("flagged known type: %v, %v", cmd, err)
	}
	// A flagged entry that is known but broken is not skippable.
	bad := []byte{byte(IgnoreUnknownTypeFlag | TypeCancelRun), '['}
	if _, err := Decode(bad); err == nil || skippable(bad, err) {
		t.Fatalf("flagged broken entry: %v", err)
	}
}

func TestRejectionIsAnError(t *testing.T) {
	var err error = &Rejection{Code: CodeNotFound, Message: "run r not found"}
	var rej *Rejection
	if !errors.As(err, &rej) || err.Error() != "run r not found" {
		t.Fatalf("rejection as error: %v", err)
	}
	if (&Rejection{Code: CodeStale}).Error() != CodeStale {
		t.Fatal("a rejection without a message reads as its code")
	}
}

// FuzzDecode checks that no entry panics the decoder and that whatever
// decodes encodes back to an entry that decodes to the same bytes again.
func FuzzDecode(f *testing.F) {
	for _, cmd := range sampleCommands() {
		b, err := Encode(cmd)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x7f})
	f.Add([]byte{0xff, '{', '}'})
	f.Add([]byte{byte(TypeSubmitRun), 'n', 'u', 'l', 'l'})
	f.Add([]byte{byte(TypeReportTasks), '{', '"', 'r', 'e', 'p', 'o', 'r', 't', 's', '"', ':', '[', '{', '}', ']', '}'})
	f.Fuzz(func(t *testing.T, b []byte) {
		cmd, err := Decode(b)
		if err != nil {
			if cmd != nil {
				t.Fatal("a command with an error")
			}
			return
		}
		once, err := Encode(cmd)
		if err != nil {
			t.Skipf("decoded but does not encode: %v", err)
		}
		again, err := Decode(once)
		if err != nil {
			t.Fatalf("re-encoded entry does not decode: %v\n%q", err, once)
		}
		twice, err := Encode(again)
		if err != nil {
			t.Fatalf("second encode: %v", err)
		}
		if !bytes.Equal(once, twice) {
			t.Fatalf("encoding is not stable:\n%q\n%q", once, twice)
		}
	})
}
