package emulator

import (
	"bufio"
	"encoding/xml"
	"errors"
	"io"
	"regexp"
	"strings"

	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"
)

func (e *Emulator) parseStreamingManifest(c *caller, body []byte) (any, *apiError) {
	var p vod.ParseStreamingManifestRequestParams
	if aerr := decodeParams(body, &p); aerr != nil {
		return nil, aerr
	}
	content := deref(p.MediaManifestContent)
	if content == "" {
		return nil, newAPIError("MissingParameter", "The request is missing the required parameter `MediaManifestContent`.")
	}
	var segs []string
	var err error
	switch t := strings.ToLower(deref(p.ManifestType)); t {
	case "", "m3u8":
		segs, err = hlsSegments(content)
	case "mpd":
		segs, err = dashSegments(content)
	default:
		return nil, newAPIError("InvalidParameterValue.ManifestType", "ManifestType `%s` must be m3u8 or mpd.", clipName(t))
	}
	if err != nil {
		return nil, newAPIError("InvalidParameterValue.MediaManifestContent", "The manifest could not be parsed: %v.", err)
	}
	return map[string]any{"MediaSegmentSet": segs}, nil
}

var hlsURIAttr = regexp.MustCompile(`URI="([^"]*)"`)

// hlsSegments lists the URIs of a playlist: URI lines and URI="..."
// attributes (keys, init maps, renditions), each once, in order.
func hlsSegments(content string) ([]string, error) {
	sc := bufio.NewScanner(strings.NewReader(content))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	first := true
	out, seen := []string{}, map[string]bool{}
	add := func(u string) {
		if u != "" && !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if first {
			line = strings.TrimPrefix(line, "\ufeff")
			if line != "#EXTM3U" {
				return nil, errors.New("the playlist does not start with #EXTM3U")
			}
			first = false
			continue
		}
		if strings.HasPrefix(line, "#") {
			for _, m := range hlsURIAttr.FindAllStringSubmatch(line, -1) {
				add(m[1])
			}
			continue
		}
		add(line)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if first {
		return nil, errors.New("the playlist is empty")
	}
	return out, nil
}

// dashSegments lists BaseURL texts and the media/initialization/sourceURL
// attributes of an MPD, each once, in document order.
func dashSegments(content string) ([]string, error) {
	dec := xml.NewDecoder(strings.NewReader(content))
	out, seen := []string{}, map[string]bool{}
	add := func(u string) {
		u = strings.TrimSpace(u)
		if u != "" && !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	root, inBase := false, false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if !root && t.Name.Local != "MPD" {
				return nil, errors.New("the root element is not MPD")
			}
			root = true
			inBase = t.Name.Local == "BaseURL"
			for _, a := range t.Attr {
				switch a.Name.Local {
				case "media", "initialization", "sourceURL":
					add(a.Value)
				}
			}
		case xml.CharData:
			if inBase {
				add(string(t))
			}
		case xml.EndElement:
			inBase = false
		}
	}
	if !root {
		return nil, errors.New("no MPD element")
	}
	return out, nil
}
