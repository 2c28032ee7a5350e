package manifest

import (
	"fmt"
	"strconv"
	"strings"
)

// expander walks a decoded MPD and emits every referenced file.
type expander struct {
	mpd      *mpdXML
	repLines []int
	emit     func(Ref) error
	budget   int // segments that may still be generated
	repIndex int // Representation in document order (index into repLines)
	buf      []byte
}

// repCtx is everything a Representation inherits.
type repCtx struct {
	path      string // element path, e.g. Period[0]/AdaptationSet[1]/Representation[v1]
	line      int
	base      string // joined BaseURL ("" if none)
	viaBase   bool   // a BaseURL contributed to base
	periodDur float64
	vars      tmplVars
	tmpl      *templateXML
	list      *listXML
	segBase   *baseXML
	elemOf    string // last elem passed to element, and its full text:
	elemText  string // every segment of a template shares one string
}

// element is the full element text of elem in this Representation.
func (c *repCtx) element(elem string) string {
	if elem == c.elemOf && c.elemText != "" {
		return c.elemText
	}
	e := c.path + "/" + elem
	if c.viaBase {
		e += " (joined with BaseURL)"
	}
	c.elemOf, c.elemText = elem, e
	return e
}

func (x *expander) run() error {
	base, via := joinBases("", false, x.mpd.BaseURLs)
	for i := range x.mpd.Periods {
		dur, err := x.periodDuration(i)
		if err != nil {
			return err
		}
		if err := x.period(i, base, via, dur); err != nil {
			return err
		}
	}
	return nil
}

// periodDuration returns the Period's length in seconds, or -1 if unknown.
func (x *expander) periodDuration(i int) (float64, error) {
	p := x.mpd.Periods[i]
	path := fmt.Sprintf("Period[%d]", i)
	if p.Duration != "" {
		return durAttr(p.Duration, path+"@duration")
	}
	start, err := optDuration(p.Start, path+"@start")
	if err != nil {
		return 0, err
	}
	if i+1 < len(x.mpd.Periods) {
		next := x.mpd.Periods[i+1].Start
		if next == "" {
			return -1, nil
		}
		end, err := durAttr(next, fmt.Sprintf("Period[%d]@start", i+1))
		return end - start, err
	}
	if x.mpd.Duration == "" {
		return -1, nil
	}
	total, err := durAttr(x.mpd.Duration, "MPD@mediaPresentationDuration")
	return total - start, err
}

func optDuration(s, elem string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	return durAttr(s, elem)
}

func durAttr(s, elem string) (float64, error) {
	d, err := parseDuration(s)
	if err != nil {
		return 0, &ParseError{Element: elem, Reason: err.Error()}
	}
	return d, nil
}

func (x *expander) period(i int, base string, via bool, dur float64) error {
	p := &x.mpd.Periods[i]
	path := fmt.Sprintf("Period[%d]", i)
	if p.Href != "" {
		return &ParseError{Element: path + "@xlink:href", Reason: "remote elements (xlink:href) are not supported"}
	}
	base, via = joinBases(base, via, p.BaseURLs)
	for j := range p.Sets {
		a := &p.Sets[j]
		apath := fmt.Sprintf("%s/AdaptationSet[%d]", path, j)
		if a.Href != "" {
			return &ParseError{Element: apath + "@xlink:href", Reason: "remote elements (xlink:href) are not supported"}
		}
		abase, avia := joinBases(base, via, a.BaseURLs)
		for k := range a.Reps {
			c := x.newRep(apath, k, &a.Reps[k], abase, avia, dur)
			c.inherit(&p.segInfoXML, &a.segInfoXML, &a.Reps[k].segInfoXML)
			if err := x.representation(c); err != nil {
				return err
			}
		}
	}
	return nil
}

func (x *expander) newRep(apath string, k int, r *repXML, base string, via bool, dur float64) *repCtx {
	id := r.ID
	if id == "" {
		id = strconv.Itoa(k)
	}
	c := &repCtx{path: fmt.Sprintf("%s/Representation[%s]", apath, id), periodDur: dur}
	if x.repIndex < len(x.repLines) {
		c.line = x.repLines[x.repIndex]
	}
	x.repIndex++
	c.base, c.viaBase = joinBases(base, via, r.BaseURLs)
	c.vars.repID = r.ID
	c.vars.bandwidth, _ = strconv.ParseUint(r.Bandwidth, 10, 64)
	return c
}

// inherit merges segment information Period -> AdaptationSet -> Representation.
func (c *repCtx) inherit(levels ...*segInfoXML) {
	for _, l := range levels {
		if l.Template != nil {
			c.tmpl = mergeTemplate(c.tmpl, l.Template)
		}
		if l.List != nil {
			c.list = mergeList(c.list, l.List)
		}
		if l.Base != nil {
			c.segBase = mergeBase(c.segBase, l.Base)
		}
	}
}

func mergeTemplate(parent, child *templateXML) *templateXML {
	if parent == nil {
		return child
	}
	m := *parent
	for _, f := range []struct {
		dst **string
		src *string
	}{
		{&m.Media, child.Media}, {&m.Init, child.Init}, {&m.Index, child.Index},
		{&m.StartNumber, child.StartNumber}, {&m.Timescale, child.Timescale},
		{&m.Duration, child.Duration}, {&m.PTO, child.PTO},
	} {
		if f.src != nil {
			*f.dst = f.src
		}
	}
	if child.Initialization != nil {
		m.Initialization = child.Initialization
	}
	if child.Timeline != nil {
		m.Timeline = child.Timeline
	}
	return &m
}

func mergeList(parent, child *listXML) *listXML {
	if parent == nil {
		return child
	}
	m := *parent
	if child.Initialization != nil {
		m.Initialization = child.Initialization
	}
	if len(child.URLs) > 0 {
		m.URLs = child.URLs
	}
	return &m
}

func mergeBase(parent, child *baseXML) *baseXML {
	if parent == nil {
		return child
	}
	m := *parent
	if child.Initialization != nil {
		m.Initialization = child.Initialization
	}
	if child.RepresentationIndex != nil {
		m.RepresentationIndex = child.RepresentationIndex
	}
	return &m
}

// joinBases applies the first BaseURL of a level (RFC 3986 relative
// resolution on the path; queries and fragments dropped).
func joinBases(base string, via bool, urls []string) (string, bool) {
	if len(urls) == 0 {
		return base, via
	}
	return joinURL(base, stripQuery(strings.TrimSpace(urls[0]))), true
}

// joinURL resolves ref against base. A ref with a scheme, a "//" prefix or an
// absolute path is returned unchanged (and refused later by validation).
func joinURL(base, ref string) string {
	if _, ok := scheme(ref); ok || strings.HasPrefix(ref, "/") || base == "" {
		return ref
	}
	return base[:strings.LastIndexByte(base, '/')+1] + ref
}

func (x *expander) representation(c *repCtx) error {
	switch {
	case c.tmpl != nil:
		return x.fromTemplate(c)
	case c.list != nil:
		return x.fromList(c)
	default:
		return x.fromBase(c)
	}
}

// ref emits one reference built from a manifest string at element elem.
func (x *expander) ref(c *repCtx, uri, elem string) error {
	e := c.element(elem)
	target := c.base // a SegmentURL without @media is the BaseURL itself
	if uri != "" {
		target = joinURL(c.base, uri)
	}
	return x.emit(Ref{URI: target, Line: c.line, Element: e})
}

// segment emits a media segment, charging the MPD's segment budget.
func (x *expander) segment(c *repCtx, uri, elem string) error {
	if x.budget <= 0 {
		return x.overBudget(c, elem)
	}
	x.budget--
	return x.ref(c, uri, elem)
}

func (x *expander) overBudget(c *repCtx, elem string) error {
	return &ParseError{Line: c.line, Element: c.path + "/" + elem,
		Reason: "MPD generates more segments than the limit (MaxFiles)", Err: ErrLimit}
}

func (x *expander) fromBase(c *repCtx) error {
	if b := c.segBase; b != nil {
		if err := x.optURL(c, b.Initialization, "SegmentBase/Initialization@sourceURL"); err != nil {
			return err
		}
		if err := x.optURL(c, b.RepresentationIndex, "SegmentBase/RepresentationIndex@sourceURL"); err != nil {
			return err
		}
	}
	if c.base == "" {
		return &ParseError{Line: c.line, Element: c.path, Reason: "no BaseURL, SegmentTemplate or SegmentList: no media to find"}
	}
	return x.emit(Ref{URI: c.base, Line: c.line, Element: c.path + "/BaseURL"})
}

func (x *expander) optURL(c *repCtx, u *urlXML, elem string) error {
	if u == nil || u.SourceURL == nil {
		return nil
	}
	return x.ref(c, *u.SourceURL, elem)
}

func (x *expander) fromList(c *repCtx) error {
	l := c.list
	if err := x.optURL(c, l.Initialization, "SegmentList/Initialization@sourceURL"); err != nil {
		return err
	}
	for i, u := range l.URLs {
		elem := fmt.Sprintf("SegmentList/SegmentURL[%d]", i)
		if u.Index != nil {
			if err := x.ref(c, *u.Index, elem+"@index"); err != nil {
				return err
			}
		}
		media := ""
		if u.Media != nil {
			media = *u.Media
		}
		if media == "" && c.base == "" {
			return &ParseError{Line: c.line, Element: c.path + "/" + elem, Reason: "SegmentURL without @media and no BaseURL"}
		}
		if err := x.segment(c, media, elem+"@media"); err != nil {
			return err
		}
	}
	return nil
}
