// Package vodoutput describes what VOD made of an uploaded media once its
// procedure ran: transcodes, adaptive streams, snapshots and the cover.
package vodoutput

import (
	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"
)

// Outputs are the playable results of a procedure.
type Outputs struct {
	Transcodes []Transcode `json:"transcodes,omitempty"`
	Streams    []Stream    `json:"streams,omitempty"`
	Snapshots  []string    `json:"snapshots,omitempty"`
	CoverURL   string      `json:"cover_url,omitempty"`
}

// Transcode is one transcoded rendition.
type Transcode struct {
	Definition int64  `json:"definition"`
	URL        string `json:"url"`
	Width      int64  `json:"width,omitempty"`
	Height     int64  `json:"height,omitempty"`
	Bitrate    int64  `json:"bitrate,omitempty"`
	Size       int64  `json:"size,omitempty"`
}

// Stream is one adaptive-streaming package (HLS or DASH).
type Stream struct {
	Definition int64  `json:"definition"`
	Package    string `json:"package"`
	URL        string `json:"url"`
	DRM        string `json:"drm,omitempty"`
}

// Empty reports whether there is no output at all.
func (o Outputs) Empty() bool {
	return len(o.Transcodes) == 0 && len(o.Streams) == 0 && len(o.Snapshots) == 0 && o.CoverURL == ""
}

// FromProcedureTask collects the outputs of a task's successful subtasks
// (DescribeTaskDetail, ProcedureStateChanged events).
func FromProcedureTask(pt *vod.ProcedureTask) Outputs {
	var o Outputs
	if pt == nil {
		return o
	}
	for _, r := range pt.MediaProcessResultSet {
		if r == nil {
			continue
		}
		if t := r.TranscodeTask; t != nil && str(t.Status) == "SUCCESS" {
			o.addTranscode(t.Output)
		}
		if t := r.AdaptiveDynamicStreamingTask; t != nil && str(t.Status) == "SUCCESS" {
			o.addStream(t.Output)
		}
		if t := r.SnapshotByTimeOffsetTask; t != nil && str(t.Status) == "SUCCESS" {
			o.addSnapshots(t.Output)
		}
		if t := r.CoverBySnapshotTask; t != nil && str(t.Status) == "SUCCESS" && t.Output != nil && str(t.Output.CoverUrl) != "" {
			o.CoverURL = str(t.Output.CoverUrl)
		}
	}
	return o
}

// FromMediaInfo collects the outputs recorded on a media
// (DescribeMediaInfos).
func FromMediaInfo(m *vod.MediaInfo) Outputs {
	var o Outputs
	if m == nil {
		return o
	}
	if m.TranscodeInfo != nil {
		for _, t := range m.TranscodeInfo.TranscodeSet {
			o.addTranscode(t)
		}
	}
	if m.AdaptiveDynamicStreamingInfo != nil {
		for _, s := range m.AdaptiveDynamicStreamingInfo.AdaptiveDynamicStreamingSet {
			o.addStream(s)
		}
	}
	if m.SnapshotByTimeOffsetInfo != nil {
		for _, s := range m.SnapshotByTimeOffsetInfo.SnapshotByTimeOffsetSet {
			o.addSnapshots(s)
		}
	}
	if m.BasicInfo != nil {
		o.CoverURL = str(m.BasicInfo.CoverUrl)
	}
	return o
}

func (o *Outputs) addTranscode(t *vod.MediaTranscodeItem) {
	if t == nil || str(t.Url) == "" {
		return
	}
	o.Transcodes = append(o.Transcodes, Transcode{
		Definition: num(t.Definition), URL: str(t.Url), Width: num(t.Width), Height: num(t.Height),
		Bitrate: num(t.Bitrate), Size: num(t.Size),
	})
}

func (o *Outputs) addStream(s *vod.AdaptiveDynamicStreamingInfoItem) {
	if s == nil || str(s.Url) == "" {
		return
	}
	o.Streams = append(o.Streams, Stream{Definition: num(s.Definition), Package: str(s.Package), URL: str(s.Url), DRM: str(s.DrmType)})
}

func (o *Outputs) addSnapshots(s *vod.MediaSnapshotByTimeOffsetItem) {
	if s == nil {
		return
	}
	for _, p := range s.PicInfoSet {
		if p != nil && str(p.Url) != "" {
			o.Snapshots = append(o.Snapshots, str(p.Url))
		}
	}
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func num(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
