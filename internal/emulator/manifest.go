package emulator

import (
	"errors"
	"io"
	"strings"

	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"

	"github.com/vodwatchd/vodwatchd/internal/manifest"
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
		segs, err = manifestSegments(content, manifest.ParseHLS)
	case "mpd":
		segs, err = manifestSegments(content, manifest.ParseDASH)
	default:
		return nil, newAPIError("InvalidParameterValue.ManifestType", "ManifestType `%s` must be m3u8 or mpd.", clipName(t))
	}
	if err != nil {
		return nil, newAPIError("InvalidParameterValue.MediaManifestContent", "The manifest could not be parsed: %v.", err)
	}
	return map[string]any{"MediaSegmentSet": segs}, nil
}

// manifestParser is manifest.ParseHLS or manifest.ParseDASH.
type manifestParser func(r io.Reader, po manifest.ParseOptions, emit func(manifest.Ref) error) error

// manifestSegments lists the files a manifest references, as a player
// would fetch them, each once, in order: HLS URI lines and URI attributes
// (keys, init maps, renditions); DASH initialization, index and media
// segments of every Representation with SegmentTemplate (Number, Time,
// Timeline), SegmentList and SegmentBase expanded and BaseURLs joined.
// It uses the daemon's own manifest parsers, so the emulator and the
// uploader agree on what a bundle holds.
func manifestSegments(content string, parse manifestParser) ([]string, error) {
	out, seen := []string{}, map[string]bool{}
	err := parse(strings.NewReader(content), manifest.ParseOptions{}, func(r manifest.Ref) error {
		u := strings.TrimSpace(r.URI)
		if u != "" && !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
		return nil
	})
	var pe *manifest.ParseError
	if errors.As(err, &pe) && pe.Manifest == "" {
		pe.Manifest = "MediaManifestContent"
	}
	return out, err
}
