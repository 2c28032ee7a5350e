package vodoutput

import (
	"testing"

	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"
)

func p[T any](v T) *T { return &v }

func TestFromProcedureTaskTakesOnlySuccessfulSubtasks(t *testing.T) {
	pt := &vod.ProcedureTask{MediaProcessResultSet: []*vod.MediaProcessTaskResult{
		nil,
		{Type: p("Transcode"), TranscodeTask: &vod.MediaProcessTaskTranscodeResult{Status: p("SUCCESS"), Output: &vod.MediaTranscodeItem{Url: p("http://x/v.mp4"), Definition: p(int64(100030)), Width: p(int64(1280))}}},
		{Type: p("Transcode"), TranscodeTask: &vod.MediaProcessTaskTranscodeResult{Status: p("FAIL"), Output: &vod.MediaTranscodeItem{Url: p("http://x/bad.mp4")}}},
		{Type: p("AdaptiveDynamicStreaming"), AdaptiveDynamicStreamingTask: &vod.MediaProcessTaskAdaptiveDynamicStreamingResult{Status: p("SUCCESS"), Output: &vod.AdaptiveDynamicStreamingInfoItem{Url: p("http://x/a.m3u8"), Package: p("HLS"), Definition: p(int64(10))}}},
		{Type: p("SnapshotByTimeOffset"), SnapshotByTimeOffsetTask: &vod.MediaProcessTaskSnapshotByTimeOffsetResult{Status: p("SUCCESS"), Output: &vod.MediaSnapshotByTimeOffsetItem{PicInfoSet: []*vod.MediaSnapshotByTimePicInfoItem{{Url: p("http://x/s.jpg")}, nil}}}},
		{Type: p("CoverBySnapshot"), CoverBySnapshotTask: &vod.MediaProcessTaskCoverBySnapshotResult{Status: p("PROCESSING"), Output: &vod.CoverBySnapshotTaskOutput{CoverUrl: p("http://x/c.jpg")}}},
	}}
	o := FromProcedureTask(pt)
	if len(o.Transcodes) != 1 || o.Transcodes[0].URL != "http://x/v.mp4" || o.Transcodes[0].Width != 1280 {
		t.Errorf("transcodes %+v", o.Transcodes)
	}
	if len(o.Streams) != 1 || o.Streams[0].Package != "HLS" || len(o.Snapshots) != 1 || o.CoverURL != "" {
		t.Errorf("outputs %+v", o)
	}
	if !FromProcedureTask(nil).Empty() || o.Empty() {
		t.Error("Empty")
	}
}

func TestFromMediaInfo(t *testing.T) {
	m := &vod.MediaInfo{
		BasicInfo:     &vod.MediaBasicInfo{CoverUrl: p("http://x/c.jpg")},
		TranscodeInfo: &vod.MediaTranscodeInfo{TranscodeSet: []*vod.MediaTranscodeItem{{Url: p("http://x/v.mp4")}, {}}},
	}
	o := FromMediaInfo(m)
	if len(o.Transcodes) != 1 || o.CoverURL != "http://x/c.jpg" || len(o.Streams) != 0 {
		t.Errorf("%+v", o)
	}
}
