package keyringstore

import (
	"context"
	"fmt"

	"github.com/twauth/twauth/internal/atomicfile"
	"github.com/twauth/twauth/internal/store"
)

var _ store.Backend = (*Backend)(nil)

// MoveFromFile moves the entries of the plain file store file into b, so
// that the two never both hold a live chain: under both stores' locks it
// writes the entries to b (keyring items, then metadata), then removes
// them from file. A rerun after a crash between the two finds the same
// entries in both and finishes the job; a rerun after success moves
// nothing. When b holds an entry with secrets updated after file's, b's
// is kept and file's dropped. moved lists the client ids file no longer
// holds.
//
// An entry whose file store has leftovers of an interrupted refresh beside
// it (journals, temporary files) stays there, with a *LeftoversError: the
// order in which those tokens may be spent is known only to that store.
//
// When file is b's metadata file itself, the entries stay in place and
// only their secrets move to the keyring (Load already prefers them; Save
// moves them).
func MoveFromFile(ctx context.Context, file *store.Store, b *Backend) (moved []string, err error) {
	src := &store.Store{Path: file.Path, FS: file.FS, LockTimeout: file.LockTimeout}
	timeout := file.LockTimeout
	if timeout == 0 {
		timeout = store.DefaultLockTimeout
	}
	same, err := sameFile(src.Path, b.meta.Path)
	if err != nil {
		return nil, err
	}
	unlock, err := src.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if !same {
		unlockB, err := b.Lock(ctx, timeout)
		if err != nil {
			return nil, err
		}
		defer unlockB()
	}
	from, err := src.Load()
	if err != nil {
		return nil, err
	}
	t := b.Tolerant()
	if same {
		for _, id := range from.Keys() {
			if hasSecrets(from.Clients[id]) {
				moved = append(moved, id)
			}
		}
		if moved == nil {
			return nil, nil
		}
		f, err := t.Load(ctx)
		if err != nil {
			return nil, err
		}
		return moved, t.Save(ctx, f)
	}
	to, err := t.Load(ctx)
	if err != nil {
		return nil, err
	}
	var stay []string
	for _, id := range from.Keys() {
		e := from.Clients[id]
		if !hasSecrets(e) {
			continue
		}
		if len(src.Orphans(id, e.RefreshToken)) > 0 {
			stay = append(stay, id)
			continue
		}
		if d := to.Clients[id]; d == nil || !hasSecrets(d) || !d.UpdatedAt.After(e.UpdatedAt) {
			to.Clients[id] = e
		}
		moved = append(moved, id)
	}
	if moved != nil {
		if err := t.Save(ctx, to); err != nil {
			return nil, fmt.Errorf("move the tokens to %s: %w", b.Where(), err)
		}
		for _, id := range moved {
			delete(from.Clients, id)
		}
		if err := src.Save(from); err != nil {
			return nil, fmt.Errorf("the tokens were copied to %s, but removing them from %s failed (%w): both hold them until this move runs again", b.Where(), src.Path, err)
		}
		for _, id := range moved {
			src.RemoveJournals(id)
		}
	}
	if stay != nil {
		return moved, &LeftoversError{Path: src.Path, ClientIDs: stay}
	}
	return moved, nil
}

// sameFile reports whether two store paths name the same file, symlinks
// followed.
func sameFile(a, b string) (bool, error) {
	ta, err := atomicfile.Target(a)
	if err != nil {
		return false, err
	}
	tb, err := atomicfile.Target(b)
	if err != nil {
		return false, err
	}
	return ta == tb, nil
}
