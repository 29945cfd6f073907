package keyringstore

import (
	"context"

	"github.com/twauth/twauth/internal/store"
)

// The journals of X's answers are the metadata file's, as the file backend
// keeps them (docs/design.md, "The durable sequence"): a refresh killed
// after X answered is recovered by the next one whatever the store's
// backend.

// Reserve reserves a journal beside the metadata file.
func (b *Backend) Reserve(ctx context.Context, key string) (store.Journal, error) {
	return store.FileBackend(b.meta).Reserve(ctx, key)
}

// Leftovers lists what killed runs left beside the metadata file.
func (b *Backend) Leftovers(ctx context.Context, key, current string) []store.Leftover {
	return store.FileBackend(b.meta).Leftovers(ctx, key, current)
}

// ClearJournals removes key's journals.
func (b *Backend) ClearJournals(ctx context.Context, key string) {
	store.FileBackend(b.meta).ClearJournals(ctx, key)
}
