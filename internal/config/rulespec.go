package config

import (
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Limits VOD puts on ApplyUpload fields.
const (
	MaxSourceContext  = 250  // characters
	MaxSessionContext = 1000 // characters
	MaxMediaName      = 64   // characters; longer names are cut
)

// ruleSpec is one layer of rule settings (global defaults, watch
// defaults, or a rule); nil means "not set here, inherit".
type ruleSpec struct {
	name, match    *string
	procedure      *string
	classID        *int64
	storageRegion  *string
	subAppID       *uint64
	mediaType      *string
	mediaName      **Template
	expireTime     *time.Time
	expireAfter    *time.Duration
	sourceContext  **Template
	sessionContext **Template
	cover          *[]string
	coverWait      *time.Duration
	readyMarker    **Template
	bundleTimeout  *time.Duration
	bundleWait     *time.Duration
	priority       *int
	concurrency    *int
	dedupe         *bool
	onChange       *OnChange
	allowEmpty     *bool
	after          *After
	qTo            *string
	qToPos         Pos
	qAttempts      *int
	hooks          []Hook // accumulate: defaults, watch, rule
}

// decodeRuleSpec decodes a rule (isRule) or a defaults block into s.
func (d *decoder) decodeRuleSpec(n *yaml.Node, field string, s *ruleSpec, isRule bool) bool {
	hs := map[string]handler{
		"procedure":       setPtr(d, &s.procedure, cString),
		"class_id":        setPtr(d, &s.classID, cNonNeg64),
		"storage_region":  setPtr(d, &s.storageRegion, cRegion),
		"sub_app_id":      setPtr(d, &s.subAppID, cUint64),
		"media_type":      setPtr(d, &s.mediaType, cMediaType),
		"media_name":      setPtr(d, &s.mediaName, cTemplate),
		"expire_time":     setPtr(d, &s.expireTime, cExpireTime),
		"expire_after":    setPtr(d, &s.expireAfter, cDuration),
		"source_context":  setPtr(d, &s.sourceContext, cContext(MaxSourceContext)),
		"session_context": setPtr(d, &s.sessionContext, cContext(MaxSessionContext)),
		"cover":           setPtr(d, &s.cover, cSuffixes),
		"cover_wait":      setPtr(d, &s.coverWait, cDuration),
		"ready_marker":    setPtr(d, &s.readyMarker, cMarker),
		"bundle_timeout":  setPtr(d, &s.bundleTimeout, cDuration),
		"bundle_wait":     setPtr(d, &s.bundleWait, cDuration),
		"priority":        setPtr(d, &s.priority, cPriority),
		"concurrency":     setPtr(d, &s.concurrency, cCount),
		"dedupe":          setPtr(d, &s.dedupe, cBool),
		"on_change":       setPtr(d, &s.onChange, enum(OnChangeUpload, OnChangeIgnore, OnChangeReplace)),
		"allow_empty":     setPtr(d, &s.allowEmpty, cBool),
		"after":           func(n *yaml.Node, f string) { d.decodeAfter(n, f, s) },
		"hooks":           func(n *yaml.Node, f string) { d.addHooks(n, f, s) },
		"quarantine": func(n *yaml.Node, f string) {
			d.mapping(n, f, map[string]handler{
				"to": func(n *yaml.Node, f string) {
					s.qToPos = d.pos(d.resolve(n))
					setPtr(d, &s.qTo, cPath)(n, f)
				},
				"after_attempts": setPtr(d, &s.qAttempts, cCount),
			})
		},
	}
	if isRule {
		hs["name"] = setPtr(d, &s.name, cString)
		hs["match"] = setPtr(d, &s.match, cGlob)
	}
	ok := d.mapping(n, field, hs)
	if s.expireTime != nil && s.expireAfter != nil {
		d.errorf(d.resolve(n), field, "set expire_time or expire_after, not both")
	}
	return ok
}

func (d *decoder) decodeAfter(n *yaml.Node, field string, s *ruleSpec) {
	a := After{Action: AfterKeep, When: AfterWhenDone}
	var to *string
	if !d.mapping(n, field, map[string]handler{
		"action": set(d, &a.Action, enum(AfterKeep, AfterMove, AfterDelete)),
		"to": func(n *yaml.Node, f string) {
			a.pos = d.pos(d.resolve(n))
			setPtr(d, &to, cPath)(n, f)
		},
		"sidecar":     set(d, &a.Sidecar, cBool),
		"prune_empty": set(d, &a.PruneEmpty, cBool),
		"when":        set(d, &a.When, enum(AfterWhenDone, AfterWhenReady)),
	}) {
		return
	}
	switch {
	case a.Action == AfterMove && to == nil:
		d.errorf(d.resolve(n), field+".to", "action move needs a destination folder (to: DIR)")
		return
	case a.Action != AfterMove && to != nil:
		d.errorf(d.resolve(n), field+".to", "to is only used with action: move (action is %s)", a.Action)
		return
	case a.Action == AfterKeep && a.PruneEmpty:
		d.errorf(d.resolve(n), field+".prune_empty", "prune_empty is only used with action: move or delete (action is keep)")
		return
	case to != nil:
		a.To = *to
	}
	s.after = &a
}

// cContext is a template whose sample rendering must fit max characters.
func cContext(max int) conv[*Template] {
	return func(d *decoder, n *yaml.Node, field string) (*Template, bool) {
		t, ok := cTemplate(d, n, field)
		if !ok {
			return nil, false
		}
		out, _ := t.Execute(sampleData())
		if c := utf8.RuneCountInString(out); c > max {
			d.errorf(d.resolve(n), field, "renders to %d characters, VOD allows %d", c, max)
			return nil, false
		}
		return t, true
	}
}

// cMarker is a template naming a file in the same folder.
func cMarker(d *decoder, n *yaml.Node, field string) (*Template, bool) {
	t, ok := cTemplate(d, n, field)
	if !ok {
		return nil, false
	}
	out, _ := t.Execute(sampleData())
	if out == "" || out == "." || out == ".." || containsAny(out, "/\\\x00") {
		d.errorf(d.resolve(n), field, "ready marker %q must render to a file name in the same folder (e.g. \"{{.Name}}.done\" or \".ready\")", t.Src)
		return nil, false
	}
	return t, true
}

func containsAny(s, chars string) bool {
	for _, c := range chars {
		for _, r := range s {
			if r == c {
				return true
			}
		}
	}
	return false
}

// overlay copies every field set in top over base.
func overlay(base, top ruleSpec) ruleSpec {
	o := base
	setIf(&o.name, top.name)
	setIf(&o.match, top.match)
	setIf(&o.procedure, top.procedure)
	setIf(&o.classID, top.classID)
	setIf(&o.storageRegion, top.storageRegion)
	setIf(&o.subAppID, top.subAppID)
	setIf(&o.mediaType, top.mediaType)
	setIf(&o.mediaName, top.mediaName)
	if top.expireTime != nil || top.expireAfter != nil {
		o.expireTime, o.expireAfter = top.expireTime, top.expireAfter
	}
	setIf(&o.sourceContext, top.sourceContext)
	setIf(&o.sessionContext, top.sessionContext)
	setIf(&o.cover, top.cover)
	setIf(&o.coverWait, top.coverWait)
	setIf(&o.readyMarker, top.readyMarker)
	setIf(&o.bundleTimeout, top.bundleTimeout)
	setIf(&o.bundleWait, top.bundleWait)
	setIf(&o.priority, top.priority)
	setIf(&o.concurrency, top.concurrency)
	setIf(&o.dedupe, top.dedupe)
	setIf(&o.onChange, top.onChange)
	setIf(&o.allowEmpty, top.allowEmpty)
	setIf(&o.after, top.after)
	if top.qTo != nil {
		o.qTo, o.qToPos = top.qTo, top.qToPos
	}
	setIf(&o.qAttempts, top.qAttempts)
	o.hooks = append(append([]Hook(nil), base.hooks...), top.hooks...)
	return o
}

func setIf[T any](dst **T, v *T) {
	if v != nil {
		*dst = v
	}
}

func val[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// builtinRuleDefaults are the defaults under every configuration.
var (
	defaultMediaName     = "{{.Stem}}"
	defaultSourceContext = "vodwatchd:{{.JobID}}"
)

// toRule turns a merged spec into a Rule, applying built-in defaults.
func (c *Config) toRule(s ruleSpec) Rule {
	r := Rule{
		Name:           val(s.name, ""),
		Match:          val(s.match, ""),
		Procedure:      val(s.procedure, ""),
		ClassID:        val(s.classID, 0),
		StorageRegion:  val(s.storageRegion, ""),
		SubAppID:       val(s.subAppID, c.VOD.SubAppID),
		MediaType:      val(s.mediaType, ""),
		MediaName:      val(s.mediaName, mustTemplate(defaultMediaName)),
		ExpireTime:     val(s.expireTime, time.Time{}),
		ExpireAfter:    val(s.expireAfter, 0),
		SourceContext:  val(s.sourceContext, mustTemplate(defaultSourceContext)),
		SessionContext: val(s.sessionContext, nil),
		Cover:          val(s.cover, nil),
		CoverWait:      val(s.coverWait, 30*time.Second),
		ReadyMarker:    val(s.readyMarker, nil),
		BundleTimeout:  val(s.bundleTimeout, 30*time.Minute),
		BundleWait:     val(s.bundleWait, 0),
		Priority:       val(s.priority, 0),
		Concurrency:    val(s.concurrency, c.Upload.PartsInFlight),
		Dedupe:         val(s.dedupe, false),
		OnChange:       val(s.onChange, OnChangeUpload),
		AllowEmpty:     val(s.allowEmpty, false),
		After:          val(s.after, After{Action: AfterKeep, When: AfterWhenDone}),
		Hooks:          s.hooks,
		Quarantine:     Quarantine{To: val(s.qTo, ""), AfterAttempts: val(s.qAttempts, c.Upload.Retries.MaxAttempts), pos: s.qToPos},
	}
	if r.Concurrency == 0 {
		r.Concurrency = c.Upload.PartsInFlight
	}
	return r
}
