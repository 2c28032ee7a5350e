package control

import (
	"context"

	"github.com/vodwatchd/vodwatchd/internal/hooks"
	"github.com/vodwatchd/vodwatchd/internal/state"
)

// MaxDeadLettersShown bounds the dead letters a status shows.
const MaxDeadLettersShown = 20

// HookInfo is the hook outbox: deliveries waiting and the dead letters.
type HookInfo struct {
	Pending     int              `json:"pending"`
	Dead        int              `json:"dead"`
	DeadLetters []hooks.Delivery `json:"dead_letters,omitempty"` // the latest MaxDeadLettersShown
}

// HookInfoOf reads the hook outbox of a store.
func HookInfoOf(ctx context.Context, s *state.Store) (*HookInfo, error) {
	ob := s.Outbox()
	st, err := ob.Stats(ctx)
	if err != nil {
		return nil, err
	}
	h := &HookInfo{Pending: st.Pending, Dead: st.Dead}
	if st.Dead > 0 {
		dead, err := ob.DeadLetters(ctx)
		if err != nil {
			return nil, err
		}
		h.DeadLetters = dead[max(0, len(dead)-MaxDeadLettersShown):]
	}
	return h, nil
}
