package config

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults of the top-level settings.
const (
	DefaultState    = "/var/lib/vodwatchd/state.db"
	DefaultEndpoint = "vod.tencentcloudapi.com"
	DefaultRegion   = "ap-guangzhou"
)

// DefaultIgnore is the ignore list every watch starts with: dotfiles
// (which covers rsync's .name.XXXXXX temporaries) and partial downloads.
var DefaultIgnore = []string{".*", "*.part", "*.tmp", "*.crdownload", "*.filepart", "*.partial", "*~"}

func defaultConfig() *Config {
	return &Config{
		VOD: VOD{
			Region: DefaultRegion, Endpoint: DefaultEndpoint, Scheme: "https", COSScheme: "https",
			Credentials: Credentials{Kind: CredEnv},
		},
		State:        DefaultState,
		Follow:       defaultFollow(),
		HookDelivery: defaultHookDelivery(),
		Log:          Log{Level: slog.LevelInfo, Format: "auto"},
		Upload: Upload{
			Workers: 4, PartsInFlight: 32, ObjectsInFlight: 128, PartSize: 8 << 20, MultipartThreshold: 16 << 20,
			Location: time.Local,
			Retries:  Retries{MaxAttempts: 5, InitialBackoff: 2 * time.Second, MaxBackoff: 5 * time.Minute},
			APIRate:  50, SmallFileThreshold: 16 << 20, SmallWorkers: -1, SmallFilesInFlight: 32,
		},
	}
}

func (d *decoder) decodeRoot(doc *yaml.Node) *Config {
	cfg := defaultConfig()
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	var global ruleSpec
	var watchNode *yaml.Node
	var watchField string
	uploadNode := n
	isMap := d.mapping(n, "", map[string]handler{
		"vod":            func(n *yaml.Node, f string) { d.decodeVOD(n, f, &cfg.VOD) },
		"state":          set(d, &cfg.State, cPath),
		"listen":         set(d, &cfg.Listen, cListen),
		"log":            func(n *yaml.Node, f string) { d.decodeLog(n, f, &cfg.Log) },
		"upload":         func(n *yaml.Node, f string) { uploadNode = n; d.decodeUpload(n, f, &cfg.Upload) },
		"compact_after":  set(d, &cfg.Compact, cDuration),
		"group_readable": set(d, &cfg.GroupReadable, cBool),
		"for_emulator":   set(d, &cfg.ForEmulator, cBool),
		"follow":         func(n *yaml.Node, f string) { d.decodeFollow(n, f, &cfg.Follow) },
		"hook_delivery":  func(n *yaml.Node, f string) { d.decodeHookDelivery(n, f, &cfg.HookDelivery) },
		"defaults":       func(n *yaml.Node, f string) { d.decodeRuleSpec(n, f, &global, false) },
		"watch":          func(n *yaml.Node, f string) { watchNode, watchField = n, f },
		"cluster":        func(n *yaml.Node, f string) { d.decodeCluster(n, f, cfg) },
	})
	if !isMap {
		if isNull(d.resolve(n)) {
			d.errorf(n, "", "empty configuration")
		}
		return cfg
	}
	d.finishUpload(d.resolve(uploadNode), &cfg.Upload)
	if watchNode == nil || isNull(d.resolve(watchNode)) {
		d.errorf(n, "watch", "at least one watch folder is required")
		return cfg
	}
	d.sequence(watchNode, watchField, func(i int, item *yaml.Node, f string) {
		if w, ok := d.decodeWatch(item, f, cfg, global); ok {
			cfg.Watch = append(cfg.Watch, w)
		}
	})
	if len(d.errs) == 0 {
		d.checkPaths(cfg)
		d.checkHookNames(cfg)
		d.checkWarnings(cfg)
	}
	return cfg
}

func (d *decoder) decodeVOD(n *yaml.Node, field string, v *VOD) {
	var cred *string
	var id, key *string
	var credNode *yaml.Node
	if !d.mapping(n, field, map[string]handler{
		"region":       set(d, &v.Region, cRegion),
		"endpoint":     set(d, &v.Endpoint, cHostPort),
		"scheme":       set(d, &v.Scheme, enum("https", "http")),
		"sub_app_id":   set(d, &v.SubAppID, cUint64),
		"credentials":  func(n *yaml.Node, f string) { credNode = n; setPtr(d, &cred, cString)(n, f) },
		"secret_id":    setPtr(d, &id, cString),
		"secret_key":   setPtr(d, &key, cString),
		"cos_endpoint": set(d, &v.COSEndpoint, cOptHostPort),
		"cos_scheme":   set(d, &v.COSScheme, enum("https", "http")),
	}) {
		return
	}
	if cred != nil {
		c, err := d.parseCredentials(d.expand(credNode, join(field, "credentials"), *cred))
		if err != nil {
			d.errorf(d.resolve(credNode), join(field, "credentials"), "%v", err)
		}
		v.Credentials = c
	}
	switch {
	case (id == nil) != (key == nil):
		d.errorf(d.resolve(n), field, "secret_id and secret_key go together")
	case id != nil && cred != nil:
		d.errorf(d.resolve(credNode), join(field, "credentials"), "inline secret_id/secret_key and credentials: %s are both set; keep one", v.Credentials.Kind)
	case id != nil:
		v.Credentials = Credentials{Kind: CredInline, SecretID: *id, SecretKey: Secret(*key)}
		d.warnf(d.resolve(n), field, "inline secret_key in the config file is discouraged; prefer credentials: env or file:PATH")
	}
}

// parseCredentials reads "env", "file:PATH", "systemd:DIR", "cvm-role",
// "profile[:NAME]".
func (d *decoder) parseCredentials(s string) (Credentials, error) {
	kind, arg, hasArg := strings.Cut(s, ":")
	switch CredentialKind(kind) {
	case CredEnv, CredCVMRole:
		if !hasArg {
			return Credentials{Kind: CredentialKind(kind)}, nil
		}
	case CredFile:
		if hasArg && arg != "" {
			return Credentials{Kind: CredFile, Path: d.abs(arg)}, nil
		}
		return Credentials{Kind: CredEnv}, fmt.Errorf("bad value %q: file needs a path (file:/etc/vodwatchd/credentials)", s)
	case CredSystemd:
		if hasArg && arg != "" {
			return Credentials{Kind: CredSystemd, Path: d.abs(arg)}, nil
		}
		return Credentials{Kind: CredEnv}, fmt.Errorf("bad value %q: systemd needs the folder LoadCredential= reads from (systemd:/etc/vodwatchd)", s)
	case CredProfile:
		if !hasArg {
			return Credentials{Kind: CredProfile, Profile: "default"}, nil
		}
		if arg != "" && !strings.ContainsAny(arg, "/\\") {
			return Credentials{Kind: CredProfile, Profile: arg}, nil
		}
	}
	return Credentials{Kind: CredEnv}, fmt.Errorf("bad value %q (one of: env, file:PATH, systemd:DIR, cvm-role, profile, profile:NAME)", s)
}

// cHostPort accepts host or host:port without scheme or path.
func cHostPort(d *decoder, n *yaml.Node, field string) (string, bool) {
	s, ok := d.scalar(n, field, "host[:port]")
	if !ok {
		return "", false
	}
	host := s
	if strings.Contains(s, ":") {
		h, _, err := splitHostPort(s)
		if err != nil {
			d.errorf(d.resolve(n), field, "bad endpoint %q: %v (host or host:port, no scheme)", s, err)
			return "", false
		}
		host = h
	}
	if host == "" || strings.ContainsAny(host, "/ @?#") {
		d.errorf(d.resolve(n), field, "bad endpoint %q (host or host:port, no scheme or path)", s)
		return "", false
	}
	return s, true
}

func splitHostPort(s string) (string, string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", "", fmt.Errorf("need host:port")
	}
	var p int
	if _, err := fmt.Sscanf(port, "%d", &p); err != nil || p < 0 || p > 65535 || fmt.Sprint(p) != port {
		return "", "", fmt.Errorf("bad port %q", port)
	}
	return host, port, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (d *decoder) decodeLog(n *yaml.Node, field string, l *Log) {
	d.mapping(n, field, map[string]handler{
		"level": func(n *yaml.Node, f string) {
			s, ok := enum("debug", "info", "warn", "error")(d, n, f)
			if ok {
				_ = l.Level.UnmarshalText([]byte(s))
			}
		},
		"format": set(d, &l.Format, enum("auto", "text", "json")),
	})
}

func (d *decoder) decodeUpload(n *yaml.Node, field string, u *Upload) {
	d.mapping(n, field, map[string]handler{
		"workers":             set(d, &u.Workers, cPositive),
		"parts_in_flight":     set(d, &u.PartsInFlight, cPositive),
		"objects_in_flight":   set(d, &u.ObjectsInFlight, cPositive),
		"part_size":           set(d, &u.PartSize, cPartSize),
		"multipart_threshold": set(d, &u.MultipartThreshold, cSize),
		"bandwidth":           set(d, &u.Bandwidth, cRate),
		"schedule": func(n *yaml.Node, f string) {
			d.sequence(n, f, func(_ int, item *yaml.Node, f string) {
				if w, ok := cWindow(d, item, f); ok {
					u.Schedule = append(u.Schedule, w)
				}
			})
		},
		"timezone": set(d, &u.Location, cLocation),
		"retries": func(n *yaml.Node, f string) {
			d.mapping(n, f, map[string]handler{
				"max_attempts":    set(d, &u.Retries.MaxAttempts, cPositive),
				"initial_backoff": set(d, &u.Retries.InitialBackoff, cDuration),
				"max_backoff":     set(d, &u.Retries.MaxBackoff, cDuration),
			})
		},
		"api_rate":              set(d, &u.APIRate, cFloatRate),
		"small_file_threshold":  set(d, &u.SmallFileThreshold, cSize),
		"small_workers":         set(d, &u.SmallWorkers, cCount),
		"small_files_in_flight": set(d, &u.SmallFilesInFlight, cPositive),
	})
}

// finishUpload checks relations between upload settings and fills the
// defaults that depend on others.
func (d *decoder) finishUpload(root *yaml.Node, u *Upload) {
	f := "upload"
	if u.Retries.MaxBackoff < u.Retries.InitialBackoff {
		d.errorf(root, f+".retries.max_backoff", "(%v) is shorter than initial_backoff (%v)", u.Retries.MaxBackoff, u.Retries.InitialBackoff)
	}
	if u.SmallWorkers < 0 {
		u.SmallWorkers = min(1, u.Workers-1)
	} else if u.SmallWorkers >= u.Workers && u.SmallWorkers > 0 {
		d.errorf(root, f+".small_workers", "(%d) must be less than workers (%d)", u.SmallWorkers, u.Workers)
	}
	if u.APIRate == 0 {
		u.APIRate = 50
	}
}

func cLocation(d *decoder, n *yaml.Node, field string) (*time.Location, bool) {
	s, ok := d.scalar(n, field, "a time zone")
	if !ok {
		return nil, false
	}
	if s == "" || s == "Local" || s == "local" {
		return time.Local, true
	}
	loc, err := time.LoadLocation(s)
	if err != nil {
		d.errorf(d.resolve(n), field, "unknown time zone %q (an IANA name such as Asia/Shanghai, or Local)", s)
		return nil, false
	}
	return loc, true
}

func (d *decoder) decodeWatch(n *yaml.Node, field string, cfg *Config, global ruleSpec) (Watch, bool) {
	w := Watch{Mode: ModeAuto, PollInterval: 10 * time.Second, RescanInterval: 5 * time.Minute, Settle: 5 * time.Second,
		MaxOpenWait: 24 * time.Hour}
	var dflt ruleSpec
	var rulesNode *yaml.Node
	var rulesField string
	var ignore []string
	ignoreDefaults := true
	var pathSet bool
	if !d.mapping(n, field, map[string]handler{
		"path":            func(n *yaml.Node, f string) { pathSet = true; set(d, &w.Path, cPath)(n, f) },
		"create":          set(d, &w.Create, cBool),
		"mode":            set(d, &w.Mode, enum(ModeAuto, ModeNotify, ModePoll)),
		"poll_interval":   set(d, &w.PollInterval, cDuration),
		"rescan_interval": set(d, &w.RescanInterval, cDuration),
		"settle":          set(d, &w.Settle, cDuration),
		"max_open_wait":   set(d, &w.MaxOpenWait, cDuration),
		"ignore":          set(d, &ignore, cIgnore),
		"ignore_defaults": set(d, &ignoreDefaults, cBool),
		"bandwidth":       set(d, &w.Bandwidth, cRate),
		"defaults":        func(n *yaml.Node, f string) { d.decodeRuleSpec(n, f, &dflt, false) },
		"rules":           func(n *yaml.Node, f string) { rulesNode, rulesField = n, f },
		"hooks":           func(n *yaml.Node, f string) { d.addHooks(n, f, &dflt) },
	}) {
		if isNull(n) {
			d.errorf(n, field, "empty watch entry")
		}
		return w, false
	}
	w.Pos = d.pos(n)
	if !pathSet {
		d.errorf(n, join(field, "path"), "missing: the folder to watch")
	}
	if w.PollInterval < 100*time.Millisecond {
		d.errorf(n, join(field, "poll_interval"), "must be at least 100ms")
	}
	if ignoreDefaults {
		w.Ignore = append(append([]string{}, DefaultIgnore...), ignore...)
	} else {
		w.Ignore = ignore
	}
	if rulesNode == nil || isNull(d.resolve(rulesNode)) {
		d.errorf(n, join(field, "rules"), "at least one rule is required (e.g. - match: \"**/*.mp4\")")
		return w, false
	}
	base := overlay(global, dflt)
	d.sequence(rulesNode, rulesField, func(j int, item *yaml.Node, f string) {
		var own ruleSpec
		matchKey := hasKey(item, "match")
		if !d.decodeRuleSpec(item, f, &own, true) {
			if isNull(item) {
				d.errorf(item, f, "empty rule")
			}
			return
		}
		if own.match == nil {
			if matchKey {
				return // a bad match was reported already
			}
			d.errorf(item, join(f, "match"), "missing: a glob such as \"**/*.mp4\"")
			return
		}
		r := cfg.toRule(overlay(base, own))
		r.Pos, r.Field = d.pos(item), f
		if r.Name == "" {
			r.Name = f
		}
		w.Rules = append(w.Rules, r)
	})
	return w, true
}

func cIgnore(d *decoder, n *yaml.Node, field string) ([]string, bool) {
	list, ok := cStrings(d, n, field)
	if !ok {
		return nil, false
	}
	for i := range list {
		item := d.resolve(d.resolve(n).Content[i])
		if _, ok := cGlob(d, item, index(field, i)); !ok {
			return nil, false
		}
	}
	return list, true
}

// cPositive accepts counts of at least 1.
func cPositive(d *decoder, n *yaml.Node, field string) (int, bool) {
	v, ok := cCount(d, n, field)
	if ok && v < 1 {
		d.errorf(d.resolve(n), field, "must be at least 1")
		return 0, false
	}
	return v, ok
}

// cPartSize accepts COS multipart part sizes: 1MiB..5GiB.
func cPartSize(d *decoder, n *yaml.Node, field string) (int64, bool) {
	v, ok := cSize(d, n, field)
	if ok && (v < 1<<20 || v > 5<<30) {
		d.errorf(d.resolve(n), field, "must be between 1MiB and 5GiB (COS part limits), got %d bytes", v)
		return 0, false
	}
	return v, ok
}

// cOptHostPort is cHostPort that also accepts "" (not set).
func cOptHostPort(d *decoder, n *yaml.Node, field string) (string, bool) {
	if r := d.resolve(n); r != nil && r.Kind == yaml.ScalarNode && r.Value == "" {
		return "", true
	}
	return cHostPort(d, n, field)
}

// hasKey reports whether a mapping node has key (aliases and merges aside).
func hasKey(n *yaml.Node, key string) bool {
	if n == nil || n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}
