package app

import (
	"context"
	"time"

	"github.com/twauth/twauth/internal/balconfig"
)

func cloneDoc(d *balconfig.Doc) *balconfig.Doc {
	c, err := balconfig.Parse(d.Bytes())
	if err != nil {
		panic(err)
	}
	return c
}

func editDoc(ctx context.Context, path string, d *balconfig.Doc, timeout time.Duration, fn func(*balconfig.Doc) error) error {
	return balconfig.Edit(ctx, path, timeout, fn)
}
