package opener

import (
	"context"
	"io"

	"github.com/pkg/browser"
)

// systemOpen opens url with ShellExecute, through github.com/pkg/browser.
func systemOpen(_ context.Context, url string, _ io.Writer) error {
	return browser.OpenURL(url)
}
