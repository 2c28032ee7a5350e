package cos

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"

	cossdk "github.com/tencentyun/cos-go-sdk-v5"
)

// BenchmarkPutObjectSDK measures signed 8 MiB PUTs from cos-go-sdk-v5
// (client CRC on) through a loopback server: MD5+CRC64+file write per byte.
func BenchmarkPutObjectSDK(b *testing.B) {
	e := newEnv(b)
	c := e.client(e.grant)
	data := make([]byte, 8<<20)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Object.Put(context.Background(), "session1/bench", bytes.NewReader(data), nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUploadPartParallelUnsigned measures 4 parallel unsigned 8 MiB
// UploadParts (AllowUnsigned): the server-side ceiling.
func BenchmarkUploadPartParallelUnsigned(b *testing.B) {
	e := newEnv(b, func(o *Options) { o.AllowUnsigned = true })
	init, _, err := e.client(e.grant).Object.InitiateMultipartUpload(context.Background(), "session1/p", nil)
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 8<<20)
	const workers = 4
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				url := fmt.Sprintf("%s/session1/p?partNumber=%d&uploadId=%s", e.http.URL, n%MaxPartNumber+1, init.UploadID)
				req, _ := http.NewRequest("PUT", url, bytes.NewReader(data))
				req.Host = testHost
				resp, err := http.DefaultClient.Do(req)
				if err != nil || resp.StatusCode != 200 {
					b.Errorf("part %d: %v", n, err)
					return
				}
				resp.Body.Close()
			}
		}()
	}
	for i := 0; i < b.N; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
}

// BenchmarkCompleteMultipart times CompleteMultipartUpload alone for a
// 256 MiB object of 32 parts of 8 MiB (the parts go up with the timer
// stopped): it moves files, so it should not grow with the bytes.
func BenchmarkCompleteMultipart(b *testing.B) {
	e := newEnv(b, func(o *Options) { o.AllowUnsigned = true })
	c := e.client(e.grant)
	ctx := context.Background()
	data := make([]byte, 8<<20)
	const parts = 32
	b.SetBytes(parts * int64(len(data)))
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		init, _, err := c.Object.InitiateMultipartUpload(ctx, "session1/c", nil)
		if err != nil {
			b.Fatal(err)
		}
		opt := &cossdk.CompleteMultipartUploadOptions{}
		for n := 1; n <= parts; n++ {
			resp, err := c.Object.UploadPart(ctx, "session1/c", init.UploadID, n, bytes.NewReader(data), nil)
			if err != nil {
				b.Fatal(err)
			}
			opt.Parts = append(opt.Parts, cossdk.Object{PartNumber: n, ETag: resp.Header.Get("ETag")})
		}
		b.StartTimer()
		if _, _, err := c.Object.CompleteMultipartUpload(ctx, "session1/c", init.UploadID, opt); err != nil {
			b.Fatal(err)
		}
	}
}
