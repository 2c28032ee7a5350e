package manifest

import (
	"fmt"
	"math"
	"strconv"
)

// tmplParams are a SegmentTemplate's numbers after inheritance.
type tmplParams struct {
	startNumber uint64
	timescale   uint64
	duration    uint64 // 0 if absent
	pto         uint64
}

func (x *expander) fromTemplate(c *repCtx) error {
	t := c.tmpl
	if err := x.templateInit(c); err != nil {
		return err
	}
	if t.Media == nil {
		if t.Init != nil || t.Initialization != nil {
			return nil // initialization-only template (e.g. with a SegmentBase-style media in BaseURL)
		}
		return &ParseError{Line: c.line, Element: c.path + "/SegmentTemplate", Reason: "SegmentTemplate without @media"}
	}
	media, err := compileTemplate(*t.Media)
	if err != nil {
		return &ParseError{Line: c.line, Element: c.path + "/SegmentTemplate@media", Reason: err.Error()}
	}
	p, err := c.params()
	if err != nil {
		return err
	}
	if t.Timeline != nil {
		return x.timeline(c, media, p)
	}
	return x.numbered(c, media, p)
}

func (x *expander) templateInit(c *repCtx) error {
	t := c.tmpl
	for _, f := range []struct {
		s    *string
		elem string
	}{{t.Init, "SegmentTemplate@initialization"}, {t.Index, "SegmentTemplate@index"}} {
		if f.s == nil {
			continue
		}
		tm, err := compileTemplate(*f.s)
		if err == nil && (tm.hasNumber || tm.hasTime) {
			err = fmt.Errorf("$Number$ and $Time$ are not allowed here")
		}
		if err != nil {
			return &ParseError{Line: c.line, Element: c.path + "/" + f.elem, Reason: err.Error()}
		}
		if err := x.ref(c, string(tm.render(x.buf[:0], c.vars)), f.elem); err != nil {
			return err
		}
	}
	if t.Init == nil {
		return x.optURL(c, t.Initialization, "SegmentTemplate/Initialization@sourceURL")
	}
	return nil
}

func (c *repCtx) params() (tmplParams, error) {
	p := tmplParams{startNumber: 1, timescale: 1}
	t := c.tmpl
	for _, f := range []struct {
		s    *string
		dst  *uint64
		name string
	}{
		{t.StartNumber, &p.startNumber, "startNumber"}, {t.Timescale, &p.timescale, "timescale"},
		{t.Duration, &p.duration, "duration"}, {t.PTO, &p.pto, "presentationTimeOffset"},
	} {
		if f.s == nil {
			continue
		}
		v, err := strconv.ParseUint(*f.s, 10, 64)
		if err != nil {
			return p, &ParseError{Line: c.line, Element: c.path + "/SegmentTemplate@" + f.name, Reason: fmt.Sprintf("bad number %q", *f.s)}
		}
		*f.dst = v
	}
	if p.timescale == 0 {
		return p, &ParseError{Line: c.line, Element: c.path + "/SegmentTemplate@timescale", Reason: "timescale is 0"}
	}
	return p, nil
}

// numbered expands a duration-based template: one segment per @duration over
// the Period.
func (x *expander) numbered(c *repCtx, media *template, p tmplParams) error {
	elem := "SegmentTemplate@media"
	if p.duration == 0 {
		return &ParseError{Line: c.line, Element: c.path + "/SegmentTemplate", Reason: "neither SegmentTimeline nor a non-zero @duration"}
	}
	if c.periodDur < 0 {
		return &ParseError{Line: c.line, Element: c.path + "/SegmentTemplate@duration",
			Reason: "the Period's length is unknown (no MPD@mediaPresentationDuration or Period@duration)"}
	}
	n := math.Ceil(c.periodDur*float64(p.timescale)/float64(p.duration) - 1e-9)
	if n > float64(x.budget) || math.IsNaN(n) {
		return x.overBudget(c, elem)
	}
	for k := uint64(0); k < uint64(n); k++ {
		v := c.vars
		v.number, v.time = p.startNumber+k, p.pto+k*p.duration
		if err := x.segment(c, string(media.render(x.buf[:0], v)), elem); err != nil {
			return err
		}
	}
	return nil
}

// timeline expands a SegmentTimeline, including r="-1" (repeat until the
// next S@t or the end of the Period).
func (x *expander) timeline(c *repCtx, media *template, p tmplParams) error {
	s := c.tmpl.Timeline.S
	v := c.vars
	v.number, v.time = p.startNumber, p.pto
	for i := range s {
		elem := fmt.Sprintf("SegmentTemplate/SegmentTimeline/S[%d]", i)
		count, err := x.sCount(c, s, i, &v.time, p, elem)
		if err != nil {
			return err
		}
		d, _ := strconv.ParseUint(s[i].D, 10, 64)
		for k := uint64(0); k < count; k++ {
			if err := x.segment(c, string(media.render(x.buf[:0], v)), elem); err != nil {
				return err
			}
			if v.time > math.MaxUint64-d {
				return &ParseError{Line: c.line, Element: c.path + "/" + elem, Reason: "segment time overflows"}
			}
			v.time += d
			v.number++
		}
	}
	return nil
}

// sCount reads S[i] (setting *t from S@t) and returns how many segments it
// stands for; counts above the remaining budget fail at once.
func (x *expander) sCount(c *repCtx, s []sXML, i int, t *uint64, p tmplParams, elem string) (uint64, error) {
	bad := func(reason string) error {
		return &ParseError{Line: c.line, Element: c.path + "/" + elem, Reason: reason}
	}
	if s[i].T != "" {
		v, err := strconv.ParseUint(s[i].T, 10, 64)
		if err != nil {
			return 0, bad(fmt.Sprintf("bad @t %q", s[i].T))
		}
		*t = v
	}
	d, err := strconv.ParseUint(s[i].D, 10, 64)
	if err != nil || d == 0 {
		return 0, bad(fmt.Sprintf("bad @d %q (must be a positive integer)", s[i].D))
	}
	r := int64(0)
	if s[i].R != "" {
		if r, err = strconv.ParseInt(s[i].R, 10, 64); err != nil || r < -1 {
			return 0, bad(fmt.Sprintf("bad @r %q", s[i].R))
		}
	}
	if r >= 0 {
		if uint64(r) >= uint64(x.budget) {
			return 0, x.overBudget(c, elem+"@r")
		}
		return uint64(r) + 1, nil
	}
	end, err := x.repeatEnd(c, s, i, p)
	if err != nil {
		return 0, bad(err.Error())
	}
	if end <= *t {
		return 0, nil
	}
	n := (end - *t + d - 1) / d
	if n > uint64(x.budget) || end-*t+d-1 < end-*t {
		return 0, x.overBudget(c, elem+"@r")
	}
	return n, nil
}

// repeatEnd is where r="-1" stops: the next S@t, else the Period's end.
func (x *expander) repeatEnd(c *repCtx, s []sXML, i int, p tmplParams) (uint64, error) {
	if i+1 < len(s) && s[i+1].T != "" {
		v, err := strconv.ParseUint(s[i+1].T, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bad @t %q on the next S", s[i+1].T)
		}
		return v, nil
	}
	if c.periodDur < 0 {
		return 0, fmt.Errorf(`r="-1" needs the Period's length (MPD@mediaPresentationDuration or Period@duration)`)
	}
	end := c.periodDur*float64(p.timescale) + float64(p.pto)
	if end >= math.MaxUint64/2 {
		return 0, fmt.Errorf("period end overflows the timescale")
	}
	return uint64(math.Ceil(end - 1e-9)), nil
}
