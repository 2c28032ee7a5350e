package manifest

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// maxXMLDepth bounds element nesting in an MPD (real ones nest about 6 deep).
const maxXMLDepth = 64

type mpdXML struct {
	Type     string      `xml:"type,attr"`
	Duration string      `xml:"mediaPresentationDuration,attr"`
	BaseURLs []string    `xml:"BaseURL"`
	Periods  []periodXML `xml:"Period"`
}

type segInfoXML struct {
	Template *templateXML `xml:"SegmentTemplate"`
	List     *listXML     `xml:"SegmentList"`
	Base     *baseXML     `xml:"SegmentBase"`
}

type periodXML struct {
	ID       string   `xml:"id,attr"`
	Start    string   `xml:"start,attr"`
	Duration string   `xml:"duration,attr"`
	Href     string   `xml:"http://www.w3.org/1999/xlink href,attr"`
	BaseURLs []string `xml:"BaseURL"`
	segInfoXML
	Sets []adaptXML `xml:"AdaptationSet"`
}

type adaptXML struct {
	Href     string   `xml:"http://www.w3.org/1999/xlink href,attr"`
	BaseURLs []string `xml:"BaseURL"`
	segInfoXML
	Reps []repXML `xml:"Representation"`
}

type repXML struct {
	ID        string   `xml:"id,attr"`
	Bandwidth string   `xml:"bandwidth,attr"`
	BaseURLs  []string `xml:"BaseURL"`
	segInfoXML
}

type urlXML struct {
	SourceURL *string `xml:"sourceURL,attr"`
}

type timelineXML struct {
	S []sXML `xml:"S"`
}

type sXML struct {
	T string `xml:"t,attr"`
	D string `xml:"d,attr"`
	R string `xml:"r,attr"`
}

type templateXML struct {
	Media          *string      `xml:"media,attr"`
	Init           *string      `xml:"initialization,attr"`
	Index          *string      `xml:"index,attr"`
	StartNumber    *string      `xml:"startNumber,attr"`
	Timescale      *string      `xml:"timescale,attr"`
	Duration       *string      `xml:"duration,attr"`
	PTO            *string      `xml:"presentationTimeOffset,attr"`
	Initialization *urlXML      `xml:"Initialization"`
	Timeline       *timelineXML `xml:"SegmentTimeline"`
}

type listXML struct {
	Initialization *urlXML      `xml:"Initialization"`
	URLs           []segURLXML  `xml:"SegmentURL"`
	Timeline       *timelineXML `xml:"SegmentTimeline"`
}

type segURLXML struct {
	Media *string `xml:"media,attr"`
	Index *string `xml:"index,attr"`
}

type baseXML struct {
	Initialization      *urlXML `xml:"Initialization"`
	RepresentationIndex *urlXML `xml:"RepresentationIndex"`
}

// ParseDASH reads an MPD from r and calls emit for every file it references:
// initialization, index and media segments of every Representation (templates
// and timelines expanded), joined with their BaseURLs. DOCTYPE and ENTITY
// declarations are refused; the number of elements, the nesting and the
// number of generated segments are bounded.
func ParseDASH(r io.Reader, po ParseOptions, emit func(Ref) error) error {
	po = po.withDefaults()
	mpd, lines, err := decodeMPD(r, po)
	if err != nil {
		return err
	}
	x := expander{mpd: mpd, repLines: lines, emit: limitRefBytes(po.MaxRefBytes, emit), budget: po.MaxSegments}
	return x.run()
}

func decodeMPD(r io.Reader, po ParseOptions) (*mpdXML, []int, error) {
	lr := &io.LimitedReader{R: r, N: po.MaxBytes + 1}
	g := &xmlGuard{d: xml.NewDecoder(lr), maxElems: 4*po.MaxSegments + 10_000}
	d := xml.NewTokenDecoder(g)
	var mpd mpdXML
	err := d.Decode(&mpd)
	if lr.N == 0 {
		return nil, nil, &ParseError{Reason: "manifest larger than " + itoa(int(po.MaxBytes)) + " bytes", Err: ErrLimit}
	}
	if err != nil {
		var pe *ParseError
		if errors.As(err, &pe) {
			return nil, nil, pe
		}
		line, _ := g.d.InputPos()
		return nil, nil, &ParseError{Line: line, Reason: "not a valid MPD", Err: err}
	}
	if g.root != "MPD" {
		return nil, nil, &ParseError{Line: 1, Reason: "root element is <" + g.root + ">, not <MPD>"}
	}
	return &mpd, g.repLines, nil
}

// xmlGuard sits between the XML tokenizer and the decoder: it refuses DOCTYPE
// and ENTITY declarations (no entity is ever expanded, local or external),
// bounds the element count and depth, and records the line of every
// MPD/Period/AdaptationSet/Representation element in document order.
type xmlGuard struct {
	d        *xml.Decoder
	elems    int
	maxElems int
	stack    []string
	root     string
	repLines []int
}

func (g *xmlGuard) Token() (xml.Token, error) {
	tok, err := g.d.RawToken()
	if err != nil {
		return tok, err
	}
	switch t := tok.(type) {
	case xml.Directive:
		line, _ := g.d.InputPos()
		return nil, &ParseError{Line: line, Reason: "DOCTYPE/ENTITY declarations are not allowed in an MPD"}
	case xml.StartElement:
		if err := g.start(t.Name.Local); err != nil {
			return nil, err // a token with an error would be taken and the error dropped
		}
	case xml.EndElement:
		if len(g.stack) > 0 {
			g.stack = g.stack[:len(g.stack)-1]
		}
	}
	return tok, nil
}

func (g *xmlGuard) start(name string) error {
	line, _ := g.d.InputPos()
	g.elems++
	if g.elems > g.maxElems {
		return &ParseError{Line: line, Reason: "more than " + itoa(g.maxElems) + " XML elements", Err: ErrLimit}
	}
	if len(g.stack) >= maxXMLDepth {
		return &ParseError{Line: line, Reason: "XML nested deeper than " + itoa(maxXMLDepth), Err: ErrLimit}
	}
	if g.root == "" {
		g.root = name
	}
	g.stack = append(g.stack, name)
	if name == "Representation" && strings.Join(g.stack, "/") == "MPD/Period/AdaptationSet/Representation" {
		g.repLines = append(g.repLines, line)
	}
	return nil
}
