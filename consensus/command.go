package consensus

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/forged-dev/forged/dag"
)

// CommandType is the first byte of every log entry: which command the JSON
// body after it holds.
type CommandType byte

// IgnoreUnknownTypeFlag marks a command type that an older node, which does
// not know it, may skip instead of stopping. Set it only on commands whose
// absence leaves the rest of the state consistent, such as bookkeeping
// added in a later release.
const IgnoreUnknownTypeFlag CommandType = 0x80

// The command types. Values are written to the log and must never change
// or be reused.
const (
	// TypePutPipeline is the type of PutPipeline.
	TypePutPipeline CommandType = 1
	// TypeSubmitRun is the type of SubmitRun.
	TypeSubmitRun CommandType = 2
	// TypeAssignTasks is the type of AssignTasks.
	TypeAssignTasks CommandType = 3
	// TypeReportTasks is the type of ReportTasks.
	TypeReportTasks CommandType = 4
	// TypeCancelRun is the type of CancelRun.
	TypeCancelRun CommandType = 5
	// TypeFailRun is the type of FailRun.
	TypeFailRun CommandType = 6
	// TypePutDataset is the type of PutDataset.
	TypePutDataset CommandType = 7
	// TypeRegisterModel is the type of RegisterModel.
	TypeRegisterModel CommandType = 8
	// TypeSetAlias is the type of SetAlias.
	TypeSetAlias CommandType = 9
	// TypeSubmitExperiment is the type of SubmitExperiment.
	TypeSubmitExperiment CommandType = 10
	// TypeDeleteRun is the type of DeleteRun.
	TypeDeleteRun CommandType = 11
	// TypeSetTags is the type of SetTags.
	TypeSetTags CommandType = 12
	// TypeRetryRun is the type of RetryRun.
	TypeRetryRun CommandType = 13
	// TypeAddReplicas is the type of AddReplicas (written with
	// IgnoreUnknownTypeFlag).
	TypeAddReplicas CommandType = 14
)

// String names the type for logs.
func (t CommandType) String() string {
	switch t &^ IgnoreUnknownTypeFlag {
	case TypePutPipeline:
		return "put_pipeline"
	case TypeSubmitRun:
		return "submit_run"
	case TypeAssignTasks:
		return "assign_tasks"
	case TypeReportTasks:
		return "report_tasks"
	case TypeCancelRun:
		return "cancel_run"
	case TypeFailRun:
		return "fail_run"
	case TypePutDataset:
		return "put_dataset"
	case TypeRegisterModel:
		return "register_model"
	case TypeSetAlias:
		return "set_alias"
	case TypeSubmitExperiment:
		return "submit_experiment"
	case TypeDeleteRun:
		return "delete_run"
	case TypeSetTags:
		return "set_tags"
	case TypeRetryRun:
		return "retry_run"
	case TypeAddReplicas:
		return "add_replicas"
	}
	return fmt.Sprintf("command_%d", byte(t))
}

// Command is one state change, committed through raft and applied by every
// node's FSM in log order.
type Command interface {
	// Type is the type byte written before the command's body.
	Type() CommandType
}

// PutPipeline stores a new version of a pipeline spec, unless the latest
// version has the same source, in which case that version is kept.
type PutPipeline struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Format is "yaml" or "json"; empty means yaml.
	Format string    `json:"format"`
	Source string    `json:"source"`
	At     time.Time `json:"at"`
}

// SubmitRun records a new run. With Pipeline set, the spec is stored (or
// found unchanged) in the same entry and the run gets its version; without
// it, the run must name a stored pipeline version (0: the latest).
type SubmitRun struct {
	Run      *dag.Run     `json:"run"`
	Pipeline *PutPipeline `json:"pipeline,omitempty"`
}

// AssignTasks queues the next attempt of each task on a node. Items are
// applied independently. With Place set, ready tasks are then placed on
// its nodes (see Placement).
type AssignTasks struct {
	At          time.Time    `json:"at"`
	Assignments []Assignment `json:"assignments"`
	Place       *Placement   `json:"place,omitempty"`
}

// Assignment places one task of one run on a node.
type Assignment struct {
	Run  string `json:"run"`
	Task string `json:"task"`
	Node string `json:"node"`
}

// ReportTasks records what workers say about their attempts. Items are
// applied independently. With Place set, the tasks the reports made ready
// (and any others waiting) are then placed on its nodes, in the same entry.
type ReportTasks struct {
	At      time.Time    `json:"at"`
	Reports []TaskReport `json:"reports"`
	Place   *Placement   `json:"place,omitempty"`
}

// ReportKind says what happened to an attempt.
type ReportKind string

// The kinds of task report.
const (
	// ReportStarted means the worker began the attempt.
	ReportStarted ReportKind = "started"
	// ReportFinished means the attempt ended; Result says how.
	ReportFinished ReportKind = "finished"
	// ReportLost means the attempt vanished (its node restarted or died);
	// it goes back to the queue without spending a retry.
	ReportLost ReportKind = "lost"
)

// TaskReport is one worker's word on one attempt. A report from a node
// other than the one the task is assigned to is rejected as stale. Outputs
// of a finished attempt that name no node are recorded as held by Node.
type TaskReport struct {
	Run     string          `json:"run"`
	Task    string          `json:"task"`
	Attempt int             `json:"attempt"`
	Node    string          `json:"node"`
	Kind    ReportKind      `json:"kind"`
	Result  *dag.TaskResult `json:"result,omitempty"`
	Reason  string          `json:"reason,omitempty"`
}

// CancelRun stops a run: what has not started is cancelled at once, what
// runs is closed when its worker reports back.
type CancelRun struct {
	RunID  string    `json:"run_id"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// FailRun ends a run that cannot go on, such as one whose spec no longer
// parses.
type FailRun struct {
	RunID  string    `json:"run_id"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Type implements Command.
func (*PutPipeline) Type() CommandType { return TypePutPipeline }

// Type implements Command.
func (*SubmitRun) Type() CommandType { return TypeSubmitRun }

// Type implements Command.
func (*AssignTasks) Type() CommandType { return TypeAssignTasks }

// Type implements Command.
func (*ReportTasks) Type() CommandType { return TypeReportTasks }

// Type implements Command.
func (*CancelRun) Type() CommandType { return TypeCancelRun }

// Type implements Command.
func (*FailRun) Type() CommandType { return TypeFailRun }

// Type implements Command.
func (*PutDataset) Type() CommandType { return TypePutDataset }

// Result is what applying a command produced on the leader. A business
// rejection is a normal result, not an error: nothing changed, and every
// node reached the same verdict.
type Result struct {
	// Error rejects the whole command (unknown run, duplicate id...); nil
	// on success.
	Error   *Rejection `json:"error,omitempty"`
	RunID   string     `json:"run_id,omitempty"`
	Version int        `json:"version,omitempty"`
	// Items has one entry per assignment or report, in the same order.
	Items []ItemResult `json:"items,omitempty"`
	// Placed are the assignments a Placement made.
	Placed []Assignment `json:"placed,omitempty"`
	// Index is the raft log index the command was committed at; a node
	// that forwarded the command waits for it before answering.
	Index uint64 `json:"index,omitempty"`
}

// Rejection says why a command or one item of a batch changed nothing. It
// is an error so that callers can return it as one; Code maps to the API's
// error codes.
type Rejection struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// The rejection codes.
const (
	// CodeNotFound means the run, task or pipeline does not exist.
	CodeNotFound = "not_found"
	// CodeConflict means the state does not allow the change (duplicate
	// id, finished run, wrong task state).
	CodeConflict = "conflict"
	// CodeInvalid means the command itself is malformed.
	CodeInvalid = "invalid"
	// CodeStale means the report is about an attempt or node that no
	// longer owns the task.
	CodeStale = "stale"
)

// Error returns the message, so a rejection reads well wherever it ends
// up.
func (r *Rejection) Error() string {
	if r.Message == "" {
		return r.Code
	}
	return r.Message
}

// ItemResult is the outcome of one item of a batch command.
type ItemResult struct {
	// Attempt is the attempt the item created (assignments) or named
	// (reports).
	Attempt int        `json:"attempt,omitempty"`
	Error   *Rejection `json:"error,omitempty"`
}

// Encode renders a command as a log entry: its type byte, then its JSON
// body.
func Encode(cmd Command) ([]byte, error) {
	if cmd == nil {
		return nil, errors.New("encode command: nil command")
	}
	body, err := json.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", cmd.Type(), err)
	}
	b := make([]byte, 0, len(body)+1)
	b = append(b, byte(cmd.Type()))
	return append(b, body...), nil
}

// Decode reads a log entry written by Encode. A type this node does not
// know gives an error wrapping ErrUnknownCommand; IgnoreUnknownTypeFlag in
// the type byte is not part of the type.
func Decode(b []byte) (Command, error) {
	if len(b) == 0 {
		return nil, errors.New("decode command: empty entry")
	}
	t := CommandType(b[0]) &^ IgnoreUnknownTypeFlag
	var cmd Command
	switch t {
	case TypePutPipeline:
		cmd = &PutPipeline{}
	case TypeSubmitRun:
		cmd = &SubmitRun{}
	case TypeAssignTasks:
		cmd = &AssignTasks{}
	case TypeReportTasks:
		cmd = &ReportTasks{}
	case TypeCancelRun:
		cmd = &CancelRun{}
	case TypeFailRun:
		cmd = &FailRun{}
	case TypePutDataset:
		cmd = &PutDataset{}
	case TypeRegisterModel:
		cmd = &RegisterModel{}
	case TypeSetAlias:
		cmd = &SetAlias{}
	case TypeSubmitExperiment:
		cmd = &SubmitExperiment{}
	case TypeDeleteRun:
		cmd = &DeleteRun{}
	case TypeSetTags:
		cmd = &SetTags{}
	case TypeRetryRun:
		cmd = &RetryRun{}
	case TypeAddReplicas:
		cmd = &AddReplicas{}
	default:
		return nil, fmt.Errorf("decode command type %d: %w", b[0], ErrUnknownCommand)
	}
	if err := json.Unmarshal(b[1:], cmd); err != nil {
		return nil, fmt.Errorf("decode %s: %w", t, err)
	}
	return cmd, nil
}

// skippable reports whether an entry that failed to decode as an unknown
// type may be skipped.
func skippable(b []byte, err error) bool {
	return len(b) > 0 && CommandType(b[0])&IgnoreUnknownTypeFlag != 0 && errors.Is(err, ErrUnknownCommand)
}
