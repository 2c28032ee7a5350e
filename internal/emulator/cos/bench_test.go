package cos

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
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
