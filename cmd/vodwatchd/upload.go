package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/credentials"
	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// uploadFlags is the command line of `vodwatchd upload`.
type uploadFlags struct {
	req                        uploader.Request
	region, endpoint, scheme   string
	cosEndpoint, cosScheme     string
	partSize, emulatorAccounts string
	asJSON, useEmulator        bool
	verbose                    bool
}

func parseUploadFlags(env *cmdEnv, args []string) (*uploadFlags, error) {
	f := &uploadFlags{}
	fs := newFlagSet(env, "upload")
	r := &f.req
	fs.StringVar(&f.region, "region", "", "API access region, e.g. ap-guangzhou (required unless --emulator)")
	fs.StringVar(&r.CoverFilePath, "cover", "", "cover image `file`")
	fs.StringVar(&r.Procedure, "procedure", "", "task flow to run after upload")
	fs.Uint64Var(&r.SubAppID, "sub-app-id", 0, "sub-application id")
	fs.StringVar(&r.StorageRegion, "storage-region", "", "storage region (default: the account's)")
	fs.Int64Var(&r.ClassID, "class-id", 0, "category id")
	fs.StringVar(&r.ExpireTime, "expire-time", "", "expiry, ISO 8601 (e.g. 2030-01-01T00:00:00+08:00)")
	fs.StringVar(&r.SourceContext, "source-context", "", "source context, at most 250 characters")
	fs.StringVar(&r.SessionContext, "session-context", "", "session context")
	fs.StringVar(&r.MediaName, "media-name", "", "media name (default: file name without extension)")
	fs.StringVar(&r.MediaType, "media-type", "", "media type (default: the file's extension)")
	fs.IntVar(&r.ConcurrentUploadNumber, "concurrent-upload-number", 0, "most parts in flight; fewer when the measured round trip needs fewer (default 32)")
	fs.StringVar(&f.partSize, "part-size", "8MiB", "multipart part size (1MiB..5GiB)")
	fs.StringVar(&f.endpoint, "endpoint", "", "VOD API host:port (default vod.tencentcloudapi.com)")
	fs.StringVar(&f.scheme, "scheme", "https", "scheme for --endpoint: https or http")
	fs.StringVar(&f.cosEndpoint, "cos-endpoint", "", "send COS requests to this host:port (Host header stays the bucket's)")
	fs.StringVar(&f.cosScheme, "cos-scheme", "", "scheme for --cos-endpoint (default: --scheme)")
	fs.BoolVar(&f.asJSON, "json", false, "print the result as JSON")
	fs.BoolVar(&f.useEmulator, "emulator", false, "start the embedded VOD/COS emulator and upload into it")
	fs.StringVar(&f.emulatorAccounts, "emulator-accounts", "", "accounts `file` of the --emulator (YAML: sub-apps, regions, procedures, classes, faults)")
	fs.BoolVar(&f.verbose, "v", false, "log progress details to stderr")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return nil, fmt.Errorf("%w: exactly one FILE expected, got %d", errUsage, fs.NArg())
	}
	r.MediaFilePath = fs.Arg(0)
	if f.region == "" && !f.useEmulator {
		return nil, fmt.Errorf("%w: --region is required (the API access region, e.g. ap-guangzhou)", errUsage)
	}
	if f.scheme != "http" && f.scheme != "https" {
		return nil, fmt.Errorf("%w: --scheme %q: use http or https", errUsage, f.scheme)
	}
	return f, nil
}

func cmdUpload(ctx context.Context, env *cmdEnv, args []string) error {
	f, err := parseUploadFlags(env, args)
	if err != nil {
		return err
	}
	cfg, cleanup, err := f.uploaderConfig(ctx, env)
	if err != nil {
		return err
	}
	defer cleanup()
	if bar := newUploadBar(ctx, env, f.req); bar != nil {
		cfg.BodyWrapper = func(r io.Reader) io.Reader { return &countingReader{r: r, add: bar.add} }
		defer bar.finish()
	}
	u, err := uploader.New(cfg)
	if err != nil {
		return err
	}
	res, err := u.Upload(ctx, f.req, nil, nil)
	if err != nil {
		if f.asJSON {
			printJSONError(env.stdout, err)
		}
		return err
	}
	return printResult(env.stdout, res, f.asJSON)
}

// uploaderConfig builds the uploader's configuration, starting the embedded
// emulator for --emulator; cleanup stops it.
func (f *uploadFlags) uploaderConfig(ctx context.Context, env *cmdEnv) (uploader.Config, func(), error) {
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: level}))
	partSize, err := config.ParseSize(f.partSize)
	if err != nil {
		return uploader.Config{}, nil, fmt.Errorf("%w: --part-size %q: %v", errUsage, f.partSize, err)
	}
	cfg := uploader.Config{
		Region: f.region, Endpoint: f.endpoint, Scheme: f.scheme,
		COSEndpoint: f.cosEndpoint, COSScheme: f.cosScheme,
		PartSize: partSize, Logger: logger, Credentials: envCredentials(env),
	}
	if !f.useEmulator {
		return cfg, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "vodwatchd-emulator-")
	if err != nil {
		return cfg, nil, err
	}
	emu, err := emulator.Start(ctx, emulator.Config{DataDir: dir, AccountsFile: f.emulatorAccounts, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		os.RemoveAll(dir)
		return cfg, nil, fmt.Errorf("starting the emulator: %w", err)
	}
	fmt.Fprintf(env.stderr, "emulator: listening on %s (stops when this command exits)\n", emu.Addr())
	if cfg.Region == "" {
		cfg.Region = "ap-guangzhou"
	}
	cfg.Endpoint, cfg.Scheme = emu.Addr(), emu.Scheme()
	cfg.COSEndpoint, cfg.COSScheme = emu.Addr(), emu.Scheme()
	cfg.Credentials = credentials.Static(emu.SecretID(), emu.SecretKey(), "")
	return cfg, func() { emu.Close(); os.RemoveAll(dir) }, nil
}

// envCredentials uses TENCENTCLOUD_SECRET_ID/KEY(/SESSION_TOKEN) when set,
// else the SDK's provider chain.
func envCredentials(env *cmdEnv) uploader.Credentials {
	id, key := env.getenv("TENCENTCLOUD_SECRET_ID"), env.getenv("TENCENTCLOUD_SECRET_KEY")
	if id != "" && key != "" {
		return credentials.Static(id, key, env.getenv("TENCENTCLOUD_SESSION_TOKEN"))
	}
	return credentials.SDKDefault()
}

func printResult(w io.Writer, res uploader.Result, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	_, err := fmt.Fprintf(w, "FileId:    %s\nMediaUrl:  %s\nCoverUrl:  %s\nRequestId: %s\n",
		res.FileID, res.MediaURL, res.CoverURL, res.RequestID)
	return err
}

// printJSONError writes the failure as JSON, so scripts reading --json
// output always get an object.
func printJSONError(w io.Writer, err error) {
	out := struct {
		Error struct {
			Code      string `json:"Code"`
			Message   string `json:"Message"`
			RequestID string `json:"RequestId,omitempty"`
		} `json:"Error"`
	}{}
	out.Error.Message = err.Error()
	var e *uploader.Error
	switch {
	case errors.As(err, &e):
		out.Error.Code, out.Error.RequestID = e.Code, e.RequestID
	case errors.Is(err, uploader.ErrCommitUnknown):
		out.Error.Code = "CommitUnknown"
	default:
		out.Error.Code = "LocalError"
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(out)
}

// uploadBar is a progress bar on a terminal.
type uploadBar struct{ bar *progressbar.ProgressBar }

// newUploadBar returns a bar when stderr is a terminal, else nil.
func newUploadBar(ctx context.Context, env *cmdEnv, req uploader.Request) *uploadBar {
	fd, ok := env.stderr.(interface{ Fd() uintptr })
	if !ok || !term.IsTerminal(int(fd.Fd())) {
		return nil
	}
	total, err := uploader.TotalBytes(ctx, req)
	if err != nil {
		return nil // Upload reports the error
	}
	return &uploadBar{bar: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(env.stderr),
		progressbar.OptionSetDescription("uploading"),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionFullWidth(),
		progressbar.OptionClearOnFinish(),
	)}
}

func (b *uploadBar) add(n int) { b.bar.Add(n) }
func (b *uploadBar) finish()   { b.bar.Finish() }

// countingReader reports the bytes read through it.
type countingReader struct {
	r   io.Reader
	add func(int)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.add(n)
	}
	return n, err
}
