// Package config loads and strictly validates vodwatchd's YAML configuration,
// reporting every problem with file:line:column and field path.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// MaxFileSize bounds the configuration file; anything larger is refused.
const MaxFileSize = 4 << 20

// Config is a loaded, validated configuration with every default applied.
// All paths are absolute; relative ones were resolved against the folder of
// the configuration file.
type Config struct {
	File         string // the path given to Load, as used in error messages
	Dir          string // absolute folder of the configuration file
	VOD          VOD
	State        string // absolute path of the bbolt state file
	Listen       string // host:port of /metrics and /healthz; "" = off
	Log          Log
	Upload       Upload
	Compact      time.Duration // compact_after: done records older than this shrink to identity + result; 0 = keep whole
	Follow       Follow        // following uploads to playable (follow.go)
	HookDelivery HookDelivery  // hook_delivery: retries of hooks
	// GroupReadable gives sidecars mode 0640 and the folders the daemon
	// creates (done, quarantine, their subfolders) 0750, whatever the umask
	// (the unit's UMask=0077 would make them 0600/0700). Default false.
	GroupReadable bool
	// ForEmulator (for_emulator: true) says the state file and post-actions
	// are meant for the embedded emulator: run --emulator then uses them as
	// written instead of its own state file and after: keep (ForEmulatorRun).
	ForEmulator bool
	Watch       []Watch
	Cluster     *Cluster // nil: one node alone (see cluster.go)
	// Warnings are problems that do not stop the daemon (for example a
	// world-readable file with inline secrets); the caller logs them.
	Warnings []string
}

// VOD is the API account and endpoint configuration.
type VOD struct {
	Region      string // API access region (not the storage region)
	Endpoint    string // API host[:port]; default vod.tencentcloudapi.com
	Scheme      string // "https" (default) or "http"
	SubAppID    uint64 // default sub-application, inherited by rules
	Credentials Credentials
	COSEndpoint string // optional host:port override for COS (private endpoints); "" = <bucket>.cos.<region>.myqcloud.com
	COSScheme   string // "https" (default) or "http"
}

// CredentialKind says where the API secret comes from.
type CredentialKind string

// The credential sources.
const (
	CredEnv     CredentialKind = "env"      // TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY
	CredFile    CredentialKind = "file"     // KEY=VALUE file at Path
	CredCVMRole CredentialKind = "cvm-role" // instance role from the CVM metadata service
	CredProfile CredentialKind = "profile"  // tccli profile ~/.tccli/<Profile>.credential
	CredInline  CredentialKind = "inline"   // secret_id/secret_key in the config (discouraged)
	CredSystemd CredentialKind = "systemd"  // secret_id/secret_key files: $CREDENTIALS_DIRECTORY, else Path
)

// Credentials is the configured credential source. SecretKey is a Secret so
// that it never prints.
type Credentials struct {
	Kind      CredentialKind
	Path      string // CredFile: absolute path; CredSystemd: folder LoadCredential= reads from
	Profile   string // CredProfile: profile name, default "default"
	SecretID  string // CredInline
	SecretKey Secret // CredInline
}

// Secret is a string that never shows its value when printed or logged.
type Secret string

const redacted = "[redacted]"

// String implements fmt.Stringer without revealing the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString implements fmt.GoStringer without revealing the value.
func (s Secret) GoString() string { return s.String() }

// LogValue implements slog.LogValuer without revealing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText keeps the value out of JSON, YAML and text encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Reveal returns the secret itself, for the one place that signs requests.
func (s Secret) Reveal() string { return string(s) }

// Log is the logging configuration.
type Log struct {
	Level  slog.Level
	Format string // "auto" (text on a terminal, JSON otherwise), "text" or "json"
}

// Upload holds the transfer and pacing settings.
type Upload struct {
	Workers            int   // jobs uploaded at once
	PartsInFlight      int   // cap on multipart parts sent at once per job (adaptive below it)
	ObjectsInFlight    int   // cap on bundle files sent at once per job (adaptive below it)
	PartSize           int64 // bytes per multipart part
	MultipartThreshold int64 // files at least this large go multipart
	Bandwidth          int64 // bytes/s for all uploads together; 0 = unlimited
	Schedule           []Window
	Location           *time.Location // time zone of the schedule; default Local
	Retries            Retries
	APIRate            float64 // requests/s per API action
	SmallFileThreshold int64   // jobs below this size are small (SmallFilesInFlight, SmallWorkers)
	SmallWorkers       int     // workers kept from large jobs (of Workers)
	// SmallFilesInFlight caps the small jobs (below SmallFileThreshold)
	// uploaded at once: their count adapts between Workers and this cap to
	// the measured round trip and rate. At or below Workers it is fixed.
	SmallFilesInFlight int
}

// Retries bounds how a failing job is retried.
type Retries struct {
	MaxAttempts    int
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
}

// Mode says how a watch notices changes.
type Mode string

// The watch modes.
const (
	ModeAuto   Mode = "auto"   // inotify, but poll on NFS/SMB/FUSE
	ModeNotify Mode = "notify" // always inotify
	ModePoll   Mode = "poll"   // always poll
)

// Watch is one drop folder with its ordered rules.
type Watch struct {
	Path           string // absolute root
	Create         bool   // create the root at start-up when missing
	Mode           Mode
	PollInterval   time.Duration
	RescanInterval time.Duration
	Settle         time.Duration
	MaxOpenWait    time.Duration // how long a quiet file still open for writing is waited for (local filesystems)
	Ignore         []string      // glob patterns (see Ignored), defaults included unless ignore_defaults: false
	Bandwidth      int64         // bytes/s for this watch; 0 = only the global limit
	Rules          []Rule        // first match wins
	Pos            Pos           // where the watch entry starts
}

// Rule is one fully merged rule: global defaults, then the watch's
// defaults, then the rule's own keys.
type Rule struct {
	Name           string // rule name; default "watch[i].rules[j]"
	Match          string // doublestar glob over the slash path relative to the root
	Pos            Pos    // where the rule starts (for messages)
	Field          string // its field path, e.g. "watch[0].rules[2]"
	Procedure      string
	ClassID        int64
	StorageRegion  string
	SubAppID       uint64
	MediaType      string    // "" = the file's extension
	MediaName      *Template // never nil
	ExpireTime     time.Time // zero = none
	ExpireAfter    time.Duration
	SourceContext  *Template // never nil
	SessionContext *Template // nil = none
	Cover          []string  // cover suffixes, e.g. ".jpg", "-cover.jpg"
	CoverWait      time.Duration
	ReadyMarker    *Template // nil = none; rendered relative to the file's folder
	BundleTimeout  time.Duration
	BundleWait     time.Duration // a matched file waits for its folder to be quiet this long (a manifest may still claim it)
	Priority       int
	Concurrency    int // parts in flight for this rule's jobs
	Dedupe         bool
	OnChange       OnChange // a file that changes after its upload
	AllowEmpty     bool     // upload zero-byte files; default false: refused with a warning
	After          After
	Quarantine     Quarantine
	Hooks          []Hook // the watch's hooks, then the rule's
}

// AfterAction is what happens to a file after its upload is committed.
type AfterAction string

// The post-upload actions.
const (
	AfterKeep   AfterAction = "keep"
	AfterMove   AfterAction = "move"
	AfterDelete AfterAction = "delete"
)

// OnChange is what a rule does with a file that changes after its upload
// (same path, new version).
type OnChange string

// The on_change choices.
const (
	OnChangeUpload  OnChange = "upload"  // a new media for the new version (default)
	OnChangeIgnore  OnChange = "ignore"  // the earlier version's media stands; nothing is uploaded
	OnChangeReplace OnChange = "replace" // upload the new version, then DeleteMedia the old one once the new commit is durable
)

// After is the post-upload action.
type After struct {
	Action  AfterAction
	To      string // absolute folder for AfterMove
	Sidecar bool   // write <name>.vod.json with the FileId next to the (moved) file
	// PruneEmpty removes the folders under the watch root that the moved or
	// deleted files leave empty (never the root). Default false.
	PruneEmpty bool
	When       string // AfterWhenDone (default) | AfterWhenReady
	pos        Pos    // where "to" was set
}

// Quarantine is where files go that keep failing.
type Quarantine struct {
	To            string // absolute folder; "" = leave the file in place, job marked quarantined
	AfterAttempts int
	pos           Pos // where "to" was set
}

// Pos is a position in the configuration file.
type Pos struct {
	File   string
	Line   int
	Column int
}

// String formats the position as file:line:column.
func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column) }

// FieldError is one problem in the configuration.
type FieldError struct {
	Pos   Pos
	Field string // e.g. "watch[0].rules[2].expire_after"
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.Pos, e.Field, e.Msg)
}

// Errors is every problem found in one configuration, in file order.
type Errors []*FieldError

func (es Errors) Error() string {
	var b bytes.Buffer
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Load reads, decodes and validates the configuration at path. A
// validation failure is returned as Errors (use errors.As), listing every
// problem found. Warnings are returned in Config.Warnings.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("config: %s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	cfg, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o044 != 0 && cfg.VOD.Credentials.Kind == CredInline {
		cfg.Warnings = append(cfg.Warnings, fmt.Sprintf(
			"%s is readable by group/others (mode %04o) and holds an inline secret_key: chmod 600 it or use credentials: env|file:PATH",
			path, fi.Mode().Perm()))
	}
	return cfg, nil
}

// Parse decodes and validates configuration bytes. name is used in
// messages and, made absolute, its folder resolves relative paths.
func Parse(name string, data []byte) (*Config, error) {
	if len(data) > MaxFileSize {
		return nil, Errors{{Pos: Pos{File: name, Line: 1, Column: 1}, Msg: fmt.Sprintf("file larger than %d bytes", MaxFileSize)}}
	}
	abs, err := filepath.Abs(name)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	d := newDecoder(name, filepath.Dir(abs))
	root, err := parseYAML(name, data)
	if err != nil {
		return nil, err
	}
	cfg := d.decodeRoot(root)
	if len(d.errs) > 0 {
		return nil, d.errs.sorted()
	}
	cfg.File = name
	cfg.Dir = d.dir
	cfg.Warnings = append(cfg.Warnings, d.warnings...)
	return cfg, nil
}

// parseYAML turns bytes into one document node, reporting syntax errors
// with the position yaml.v3 gives.
func parseYAML(name string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{Pos: Pos{File: name, Line: 1, Column: 1}, Msg: "empty configuration"}}
		}
		return nil, Errors{syntaxError(name, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, Errors{{Pos: Pos{File: name, Line: extra.Line, Column: extra.Column}, Msg: "more than one YAML document"}}
	} else if !errors.Is(err, io.EOF) {
		return nil, Errors{syntaxError(name, err)}
	}
	return &doc, nil
}

// EmulatorStatePath is the state file run --emulator uses for a
// configuration whose state is not meant for the emulator: beside it,
// "state.db" becoming "state.emulator.db".
func EmulatorStatePath(state string) string {
	ext := filepath.Ext(state)
	return strings.TrimSuffix(state, ext) + ".emulator" + ext
}

// ForEmulatorRun adapts c to a run against the embedded emulator. Unless
// c says its state and post-actions are meant for it (ForEmulator), the
// run keeps its own state file (EmulatorStatePath) and leaves every file
// where it is: after: keep with no sidecar, no quarantine folder. Uploads
// to a fake service never move, delete or mark production files.
func (c *Config) ForEmulatorRun() {
	if c.ForEmulator {
		return
	}
	c.State = EmulatorStatePath(c.State)
	for i := range c.Watch {
		for j := range c.Watch[i].Rules {
			r := &c.Watch[i].Rules[j]
			r.After = After{Action: AfterKeep, pos: r.After.pos}
			r.Quarantine.To = ""
		}
	}
}
