package emulator

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"os"
	"strings"

	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"
)

// Outputs of a finished task live under outputPrefix/<FileId>/ in the
// media's bucket and are served at MediaUrl's address: the transcode is
// the source bytes, the adaptive-streaming playlist points at it, and the
// snapshot and cover are small generated JPEG images.
const (
	outputPrefix    = "vodout/"
	transcodeName   = "v.f100030.mp4"
	adaptiveName    = "adp.10.m3u8"
	snapshotName    = "snapshotByTimeOffset/10_0.jpg"
	coverName       = "coverBySnapshot/10_0.jpg"
	outputWidth     = 1280
	outputHeight    = 720
	outputBitrate   = 1_000_000
	outputImageSide = 32
)

// taskOutputs are the v20180717 outputs of a successful task.
type taskOutputs struct {
	transcode *vod.MediaTranscodeItem
	adaptive  *vod.AdaptiveDynamicStreamingInfoItem
	snapshot  *vod.MediaSnapshotByTimeOffsetItem
	cover     string
}

func outputKey(fileID, name string) string { return outputPrefix + fileID + "/" + name }

// outputsOf builds the outputs of a successful task (nil without media).
func (e *Emulator) outputsOf(v taskView) *taskOutputs {
	if v.m == nil {
		return nil
	}
	url := func(name string) string { return e.mediaURL(v.t.Bucket, outputKey(v.t.FileID, name)) }
	return &taskOutputs{
		transcode: &vod.MediaTranscodeItem{
			Url: ptr(url(transcodeName)), Definition: ptr(int64(transcodeDefinition)), Bitrate: ptr(int64(outputBitrate)),
			Height: ptr(int64(outputHeight)), Width: ptr(int64(outputWidth)), Size: ptr(v.m.Size), Duration: ptr(0.0),
			Container: ptr("mov,mp4,m4a,3gp,3g2,mj2"), Md5: ptr(""),
			VideoStreamSet: []*vod.MediaVideoStreamItem{}, AudioStreamSet: []*vod.MediaAudioStreamItem{},
			DigitalWatermarkType: ptr("None"),
		},
		adaptive: &vod.AdaptiveDynamicStreamingInfoItem{
			Definition: ptr(int64(adaptiveDefinition)), Package: ptr("HLS"), DrmType: ptr(""),
			Url: ptr(url(adaptiveName)), Size: ptr(v.m.Size), DigitalWatermarkType: ptr("None"),
			SubStreamSet: []*vod.MediaSubStreamInfoItem{},
		},
		snapshot: &vod.MediaSnapshotByTimeOffsetItem{
			Definition: ptr(int64(snapshotDefinition)),
			PicInfoSet: []*vod.MediaSnapshotByTimePicInfoItem{{TimeOffset: ptr(0.0), Url: ptr(url(snapshotName))}},
		},
		cover: url(coverName),
	}
}

// mediaOutputs is what DescribeMediaInfos adds for a processed media.
type mediaOutputs struct {
	TranscodeInfo                *vod.MediaTranscodeInfo                `json:",omitempty"`
	AdaptiveDynamicStreamingInfo *vod.MediaAdaptiveDynamicStreamingInfo `json:",omitempty"`
	SnapshotByTimeOffsetInfo     *vod.MediaSnapshotByTimeOffsetInfo     `json:",omitempty"`
}

// addOutputs fills j with the outputs of m's finished, successful task;
// a media without an uploaded cover takes the snapshot cover.
func (e *Emulator) addOutputs(j *mediaInfoJSON, m MediaInfo) {
	e.store.mu.Lock()
	v, ok := e.taskViewLocked(e.store.data.taskOfFile[m.FileID])
	e.store.mu.Unlock()
	if !ok || !v.t.done() || v.t.Fail {
		return
	}
	v.m = &m
	o := e.outputsOf(v)
	j.TranscodeInfo = &vod.MediaTranscodeInfo{TranscodeSet: []*vod.MediaTranscodeItem{o.transcode}}
	j.AdaptiveDynamicStreamingInfo = &vod.MediaAdaptiveDynamicStreamingInfo{AdaptiveDynamicStreamingSet: []*vod.AdaptiveDynamicStreamingInfoItem{o.adaptive}}
	j.SnapshotByTimeOffsetInfo = &vod.MediaSnapshotByTimeOffsetInfo{SnapshotByTimeOffsetSet: []*vod.MediaSnapshotByTimeOffsetItem{o.snapshot}}
	if j.BasicInfo.CoverUrl == "" {
		j.BasicInfo.CoverUrl = o.cover
	}
}

// serveOutput answers GET/HEAD of a task output; false when key is not
// under outputPrefix (the caller serves it as media).
func (e *Emulator) serveOutput(w http.ResponseWriter, r *http.Request, bucket, key string) bool {
	rest, ok := strings.CutPrefix(key, outputPrefix)
	if !ok {
		return false
	}
	fileID, name, _ := strings.Cut(rest, "/")
	e.store.mu.Lock()
	v, found := e.taskViewLocked(e.store.data.taskOfFile[fileID])
	e.store.mu.Unlock()
	if !found || v.m == nil || v.t.Bucket != bucket || !v.t.done() || v.t.Fail {
		http.NotFound(w, r)
		return true
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	switch name {
	case transcodeName:
		e.serveTranscode(w, r, v)
	case adaptiveName:
		body := fmt.Sprintf("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-STREAM-INF:BANDWIDTH=%d,RESOLUTION=%dx%d\n%s\n",
			outputBitrate, outputWidth, outputHeight, e.mediaURL(bucket, outputKey(fileID, transcodeName)))
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
		http.ServeContent(w, r, adaptiveName, v.t.Finished, strings.NewReader(body))
	case snapshotName, coverName:
		w.Header().Set("Content-Type", "image/jpeg")
		http.ServeContent(w, r, "snapshot.jpg", v.t.Finished, bytes.NewReader(snapshotJPEG(fileID)))
	default:
		http.NotFound(w, r)
	}
	return true
}

func (e *Emulator) serveTranscode(w http.ResponseWriter, r *http.Request, v taskView) {
	f, info, err := e.cos.Open(v.m.Bucket, v.m.MediaKey)
	if errors.Is(err, os.ErrNotExist) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "video/mp4")
	http.ServeContent(w, r, transcodeName, info.ModTime, f)
}

// snapshotJPEG is a small image whose shade derives from the FileId.
func snapshotJPEG(fileID string) []byte {
	img := image.NewGray(image.Rect(0, 0, outputImageSide, outputImageSide*9/16))
	shade := byte(len(fileID) * 7)
	for _, c := range fileID {
		shade = shade*31 + byte(c)
	}
	for i := range img.Pix {
		img.Pix[i] = shade
	}
	img.SetGray(0, 0, color.Gray{Y: ^shade})
	var b bytes.Buffer
	jpeg.Encode(&b, img, &jpeg.Options{Quality: 80})
	return b.Bytes()
}
