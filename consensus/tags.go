package consensus

import (
	"go.etcd.io/bbolt"
)

// Limits of run tags.
const (
	maxTags        = 50
	maxTagKeyLen   = 64
	maxTagValueLen = 256
)

// SetTags sets and removes tags of a run (free-form key=value labels, to
// find and group runs by).
type SetTags struct {
	RunID  string            `json:"run_id"`
	Set    map[string]string `json:"set,omitempty"`
	Remove []string          `json:"remove,omitempty"`
}

// Type implements Command.
func (*SetTags) Type() CommandType { return TypeSetTags }

func (p processor) setTags(tx *bbolt.Tx, c *SetTags) (*Result, error) {
	for k, v := range c.Set {
		if rej := validKey("tag", k, maxTagKeyLen); rej != nil {
			return rejected(rej), nil
		}
		if len(v) > maxTagValueLen {
			return rejected(reject(CodeInvalid, "tag %s: the value is over %d bytes", k, maxTagValueLen)), nil
		}
	}
	set := p.newRunSet(tx)
	run, rej, err := set.get(c.RunID)
	if err != nil || rej != nil {
		return rejected(rej), err
	}
	tags := make(map[string]string, len(run.Tags)+len(c.Set))
	for k, v := range run.Tags {
		tags[k] = v
	}
	for _, k := range c.Remove {
		delete(tags, k)
	}
	for k, v := range c.Set {
		tags[k] = v
	}
	if len(tags) > maxTags {
		return rejected(reject(CodeInvalid, "run %s would have %d tags; the limit is %d", c.RunID, len(tags), maxTags)), nil
	}
	if len(tags) == 0 {
		tags = nil
	}
	run.Tags = tags
	set.changed(run)
	return &Result{RunID: run.ID, Version: run.Version}, set.save()
}
