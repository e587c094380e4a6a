package replicate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// SealGroup returns the group on the target in whose committed offsets (as
// metadata of the state topic's partition 0) a cutover seals the migration's
// copy: while it is set, no `run` copies the migration forward. A live run
// stops within sealCheck of the seal (flushing and checkpointing), and a new
// one refuses to start.
func SealGroup(migration string) string { return "kmigrate." + migration + ".seal" }

// sealCheck is how often a running copy looks for a seal.
const sealCheck = time.Second

// Seal says who sealed a migration's copy, and when.
type Seal struct {
	// Cutover is the id of the cutover that sealed the copy.
	Cutover string `json:"cutover"`
	// Host and PID are the cutover process's.
	Host string    `json:"host"`
	PID  int       `json:"pid"`
	Time time.Time `json:"time"`
}

// ErrSealed is returned by a run of a migration whose copy a cutover sealed.
var ErrSealed = errors.New("the migration's copy is sealed by its cutover")

func (s Seal) String() string {
	return fmt.Sprintf("cutover %s (pid %d on %s) at %s", s.Cutover, s.PID, s.Host, s.Time.Format(time.RFC3339))
}

// ReadSeal returns the seal of a migration, nil when its copy is not sealed.
// adm is a client of the target; stateTopic is the migration's state topic.
func ReadSeal(ctx context.Context, adm *kadm.Client, migration, stateTopic string) (*Seal, error) {
	group := SealGroup(migration)
	offs, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = offs.Error()
	}
	if errors.Is(err, kerr.GroupIDNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the seal of migration %s (group %s on the target): %w", migration, group, err)
	}
	o, ok := offs.Lookup(stateTopic, 0)
	if !ok || o.Metadata == "" {
		return nil, nil
	}
	var s Seal
	if err := json.Unmarshal([]byte(o.Metadata), &s); err != nil {
		return nil, fmt.Errorf("read the seal of migration %s (group %s on the target): %w", migration, group, err)
	}
	return &s, nil
}

// WriteSeal seals a migration's copy.
func WriteSeal(ctx context.Context, adm *kadm.Client, migration, stateTopic string, s Seal) error {
	meta, err := json.Marshal(s)
	if err != nil {
		return err
	}
	group := SealGroup(migration)
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: stateTopic, Partition: 0, At: 0, LeaderEpoch: -1, Metadata: string(meta)})
	resp, err := adm.CommitOffsets(ctx, group, offs)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("seal migration %s (group %s on the target): %w", migration, group, err)
	}
	return nil
}

// Unseal lifts a migration's seal so that `run` copies it forward again.
func Unseal(ctx context.Context, adm *kadm.Client, migration string) error {
	group := SealGroup(migration)
	resp, err := adm.DeleteGroup(ctx, group)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return fmt.Errorf("unseal migration %s (delete group %s on the target): %w", migration, group, err)
	}
	return nil
}

// sealError is the refusal of a run of a sealed migration.
func sealError(migration string, s *Seal) error {
	return fmt.Errorf("%w: migration %s was cut over by %s; the target is now where applications write. `kmigrate run --reverse` copies their new records back to the source; `kmigrate cutover --abort` lifts the seal if the switch did not happen",
		ErrSealed, migration, s)
}

// sealLoop stops the copy, cleanly, once a cutover sealed the migration.
func (e *Engine) sealLoop(ctx context.Context, stop context.CancelCauseFunc) {
	every(ctx, sealCheck, func(ctx context.Context) {
		s, err := ReadSeal(ctx, e.tgtReadAdm(), e.cfg.Migration, e.store.Topic())
		if err != nil || s == nil {
			return // a transient fault: the next look decides
		}
		e.mu.Lock()
		first := e.sealed == nil
		e.sealed = s
		e.mu.Unlock()
		if first {
			e.event("info", "", "the migration was sealed by %s: stopping the copy (flush, checkpoint, release)", s)
			stop(ErrSealed)
		}
	})
}

// Sealed returns the seal that stopped this engine's copy, nil if none did.
func (e *Engine) Sealed() *Seal {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.sealed
}
