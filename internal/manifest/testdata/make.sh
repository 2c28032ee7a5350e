#!/usr/bin/env bash
# Regenerates the committed ffmpeg bundles used by the manifest tests.
# Every bundle is 2 s of testsrc at 64x48 (plus a 160x120 variant where a
# ladder is needed), so the whole testdata folder stays well under 1 MiB.
# Run from anywhere: ./make.sh (needs ffmpeg). Output is deterministic enough
# for the tests, which compare file sets and sizes read from disk.
set -euo pipefail
cd "$(dirname "$0")"
FF=(ffmpeg -hide_banner -loglevel error -y)
SRC=(-f lavfi -i testsrc=size=64x48:rate=10:duration=2)
ENC=(-c:v libx264 -preset ultrafast -g 5 -keyint_min 5 -sc_threshold 0 -bf 0 -pix_fmt yuv420p)

DIRS=(hls_fmp4 hls_aes hls_single hls_master dash_timeline dash_time dash_audio dash_number dash_list)
rm -rf "${DIRS[@]}"
mkdir -p "${DIRS[@]}"

# HLS fMP4 with EXT-X-MAP (init.mp4) and .m4s segments.
"${FF[@]}" "${SRC[@]}" "${ENC[@]}" -f hls -hls_time 0.5 -hls_playlist_type vod \
  -hls_segment_type fmp4 -hls_fmp4_init_filename init.mp4 \
  -hls_segment_filename 'hls_fmp4/seg_%03d.m4s' hls_fmp4/index.m3u8

# HLS MPEG-TS encrypted with AES-128: key file + keyinfo (keyinfo is ffmpeg's
# input only and is not referenced by the playlist).
printf '0123456789abcdef' > hls_aes/enc.key
printf 'enc.key\nhls_aes/enc.key\n00112233445566778899aabbccddeeff\n' > hls_aes/enc.keyinfo
"${FF[@]}" "${SRC[@]}" "${ENC[@]}" -f hls -hls_time 0.5 -hls_playlist_type vod \
  -hls_key_info_file hls_aes/enc.keyinfo \
  -hls_segment_filename 'hls_aes/seg_%03d.ts' hls_aes/index.m3u8

# HLS single file with EXT-X-BYTERANGE (one .ts referenced by every segment).
"${FF[@]}" "${SRC[@]}" "${ENC[@]}" -f hls -hls_time 0.5 -hls_playlist_type vod \
  -hls_flags single_file hls_single/index.m3u8

# HLS master with two variants (one media playlist + segments per variant).
"${FF[@]}" -f lavfi -i testsrc=size=160x120:rate=10:duration=2 \
  -filter_complex '[0:v]split=2[a][b];[b]scale=64:48[c]' \
  -map '[a]' -map '[c]' -c:v libx264 -preset ultrafast -g 5 -keyint_min 5 \
  -sc_threshold 0 -bf 0 -pix_fmt yuv420p -b:v:0 200k -b:v:1 50k \
  -f hls -hls_time 0.5 -hls_playlist_type vod -master_pl_name master.m3u8 \
  -var_stream_map 'v:0,name:hi v:1,name:lo' \
  -hls_segment_filename 'hls_master/%v/seg_%03d.ts' hls_master/%v/index.m3u8

# DASH SegmentTemplate with SegmentTimeline and $Number%05d$.
"${FF[@]}" "${SRC[@]}" "${ENC[@]}" -f dash -seg_duration 0.5 -use_template 1 -use_timeline 1 \
  -init_seg_name 'init-$RepresentationID$.m4s' \
  -media_seg_name 'chunk-$RepresentationID$-$Number%05d$.m4s' dash_timeline/manifest.mpd

# DASH SegmentTimeline with $Time$ and $Bandwidth$, two video Representations.
"${FF[@]}" -f lavfi -i testsrc=size=160x120:rate=10:duration=2 \
  -filter_complex '[0:v]split=2[a][b];[b]scale=64:48[c]' \
  -map '[a]' -map '[c]' -c:v libx264 -preset ultrafast -g 5 -keyint_min 5 \
  -sc_threshold 0 -bf 0 -pix_fmt yuv420p -b:v:0 200k -b:v:1 50k \
  -f dash -seg_duration 0.5 -use_template 1 -use_timeline 1 \
  -init_seg_name 'init-$RepresentationID$.m4s' \
  -media_seg_name 'chunk-$RepresentationID$-$Bandwidth$-$Time$.m4s' dash_time/manifest.mpd

# DASH SegmentTimeline with $Time$, video + AAC audio. ffmpeg 5.1 names the
# first audio segment after its priming pts (chunk-1--1024.m4s) while the MPD
# says t="0": a real packager bug that the tests expect to be reported as a
# missing file (chunk-1-0.m4s), i.e. the bundle is not playable as written.
"${FF[@]}" "${SRC[@]}" -f lavfi -i sine=frequency=440:duration=2 "${ENC[@]}" \
  -c:a aac -b:a 32k -map 0:v -map 1:a -f dash -seg_duration 0.5 -use_template 1 -use_timeline 1 \
  -adaptation_sets 'id=0,streams=v id=1,streams=a' \
  -init_seg_name 'init-$RepresentationID$.m4s' \
  -media_seg_name 'chunk-$RepresentationID$-$Time$.m4s' dash_audio/manifest.mpd

# DASH SegmentTemplate without a timeline: duration-based $Number%05d$.
"${FF[@]}" "${SRC[@]}" "${ENC[@]}" -f dash -seg_duration 0.5 -use_template 1 -use_timeline 0 \
  -init_seg_name 'init-$RepresentationID$.m4s' \
  -media_seg_name 'chunk-$RepresentationID$-$Number%05d$.m4s' dash_number/manifest.mpd

# DASH SegmentList (ffmpeg writes SegmentList when -use_template 0).
"${FF[@]}" "${SRC[@]}" "${ENC[@]}" -f dash -seg_duration 0.5 -use_template 0 -use_timeline 0 \
  -init_seg_name 'init-$RepresentationID$.m4s' \
  -media_seg_name 'chunk-$RepresentationID$-$Number%05d$.m4s' dash_list/manifest.mpd
