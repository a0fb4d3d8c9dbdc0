package testutil

import (
	"bytes"
	"context"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Client returns an S3 client of the server's admin identity: what a test
// uses to look at or tamper with objects behind folio's back.
func (w *Weed) Client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(w.S3),
		Region:       "us-east-1",
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(w.AccessKey, w.SecretKey, ""),
		Retryer:      aws.NopRetryer{},
	})
}

// signedProbe stores, reads back and removes an object at the bucket's
// root with the admin credentials: the volume server is registered and S3
// serves writes.
func (w *Weed) signedProbe(ctx context.Context) bool {
	c := w.Client()
	key := aws.String(".testutil-probe")
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(w.Bucket), Key: key, Body: bytes.NewReader([]byte("probe"))}); err != nil {
		return false
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(w.Bucket), Key: key})
	if err != nil {
		return false
	}
	data, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil || string(data) != "probe" {
		return false
	}
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(w.Bucket), Key: key})
	return err == nil
}
