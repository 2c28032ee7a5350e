// Package hooks tells the outside world what became of a job: signed
// webhook POSTs and exec commands, delivered at least once from a durable
// outbox with an idempotency key, retried with backoff, bounded, then
// dead-lettered.
package hooks

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/vodoutput"
)

// Events a hook can fire on.
const (
	OnDone             = "done"
	OnReady            = "ready"
	OnFailed           = "failed"
	OnQuarantined      = "quarantined"
	OnProcessingFailed = "processing_failed"
)

// Events lists every event, in the order a job may meet them.
var Events = []string{OnDone, OnReady, OnFailed, OnQuarantined, OnProcessingFailed}

// ValidEvent reports whether e names an event.
func ValidEvent(e string) bool { return slices.Contains(Events, e) }

// Facts are what a hook is told about a job.
type Facts struct {
	Event    string             `json:"event"`
	JobID    string             `json:"job_id"`
	Path     string             `json:"path"`
	Rule     string             `json:"rule,omitempty"`
	FileID   string             `json:"file_id,omitempty"`
	MediaURL string             `json:"media_url,omitempty"`
	Outputs  *vodoutput.Outputs `json:"outputs,omitempty"`
	Error    string             `json:"error,omitempty"` // "code: message" of the failure
	At       time.Time          `json:"at"`              // when the job reached Event
}

// Hook is one configured target: a webhook (URL) or a command.
type Hook struct {
	Name    string        // unique; deliveries name their hook by it
	On      []string      // events it fires on
	URL     string        // webhook: POST target
	Secret  string        // webhook: HMAC-SHA256 key; never logged, never stored
	Command []string      // exec: argv (no shell)
	Timeout time.Duration // per attempt; default 30s
}

// Fires reports whether the hook fires on event.
func (h Hook) Fires(event string) bool { return slices.Contains(h.On, event) }

// Kind is "webhook" or "exec".
func (h Hook) Kind() string {
	if h.URL != "" {
		return "webhook"
	}
	return "exec"
}

// LogValue keeps the secret out of logs.
func (h Hook) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", h.Name), slog.String("kind", h.Kind()))
}

// String keeps the secret out of formatted output.
func (h Hook) String() string { return h.Kind() + " " + strconv.Quote(h.Name) }

// GoString keeps the secret out of %#v too.
func (h Hook) GoString() string { return "hooks.Hook{" + h.String() + "}" }

// Delivery is one call of one hook waiting in (or done with) the outbox.
// It holds no secret: the hook is named, its secret comes from the config.
type Delivery struct {
	Key      string    `json:"key"` // idempotency key, unique
	Hook     string    `json:"hook"`
	Facts    Facts     `json:"facts"`
	Created  time.Time `json:"created"`
	Attempts int       `json:"attempts,omitempty"`
	NextAt   time.Time `json:"next_at,omitzero"`
	Last     *Attempt  `json:"last,omitempty"`
	Dead     bool      `json:"dead,omitempty"`
}

// Attempt is the outcome of one try.
type Attempt struct {
	At         time.Time     `json:"at"`
	Duration   time.Duration `json:"duration"`
	HTTPStatus int           `json:"http_status,omitempty"`
	ExitStatus *int          `json:"exit_status,omitempty"`
	OutputTail string        `json:"output_tail,omitempty"`
	Error      string        `json:"error,omitempty"`
}

// Plan returns the deliveries that facts cause among hooks. The key
// derives from the job, the event, the time it happened and the hook, so
// the same happening always yields the same key.
func Plan(hooks []Hook, f Facts) []Delivery {
	var out []Delivery
	for _, h := range hooks {
		if !h.Fires(f.Event) {
			continue
		}
		out = append(out, Delivery{Key: key(h.Name, f), Hook: h.Name, Facts: f, Created: f.At, NextAt: f.At})
	}
	return out
}

func key(hook string, f Facts) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%s\x00%d", f.JobID, f.Event, hook, f.At.UnixNano())))
	return hex.EncodeToString(sum[:16])
}

// document is the webhook body: the facts and the idempotency key.
type document struct {
	IdempotencyKey string `json:"idempotency_key"`
	Facts
}

func body(d Delivery) ([]byte, error) {
	b, err := json.Marshal(document{IdempotencyKey: d.Key, Facts: d.Facts})
	if err != nil {
		return nil, fmt.Errorf("encoding the %s document of job %s: %w", d.Facts.Event, d.Facts.JobID, err)
	}
	return b, nil
}
