package gitea

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ErrFileNotFound is returned by File when the repository, the ref or the
// path does not exist (or the token may not see the repository).
var ErrFileNotFound = errors.New("not found")

// FileAtRef is one file's content at a ref.
type FileAtRef struct {
	Content []byte
	// BlobSHA is the file's Git blob id; LastCommit is the newest commit
	// that changed it (both non-secret references).
	BlobSHA, LastCommit string
}

// MaxFileBytes bounds the files File reads.
const MaxFileBytes = 8 << 20

// File reads a file of a repository at ref (a branch, tag or commit; empty
// means the default branch) through GET /api/v1/repos/{owner}/{repo}/contents/{path}.
// The token needs the read:repository scope.
func (c *Client) File(ctx context.Context, repository, path, ref string) (FileAtRef, error) {
	owner, repo, ok := strings.Cut(repository, "/")
	if !ok || owner == "" || repo == "" {
		return FileAtRef{}, fmt.Errorf("repository %q is not owner/name", repository)
	}
	cl, tok, err := c.api(ctx)
	if err != nil {
		return FileAtRef{}, err
	}
	what := fmt.Sprintf("GET /api/v1/repos/%s/contents/%s", repository, path)
	if ref != "" {
		what += "?ref=" + ref
	}
	res, resp, err := cl.GetContents(owner, repo, ref, path)
	if err != nil {
		if resp != nil && resp.Response != nil {
			switch resp.StatusCode {
			case http.StatusNotFound:
				return FileAtRef{}, fmt.Errorf("%s: %w (check the repository, path and ref, and that the token's user can read the repository)", what, ErrFileNotFound)
			case http.StatusForbidden:
				return FileAtRef{}, fmt.Errorf("%s: forbidden (403): the token needs the read:repository scope", what)
			}
		}
		return FileAtRef{}, c.describe(tok, what, resp, err)
	}
	if res == nil || res.Type != "file" {
		return FileAtRef{}, fmt.Errorf("%s: not a file", what)
	}
	if res.Size > MaxFileBytes {
		return FileAtRef{}, fmt.Errorf("%s: %d bytes, larger than %d", what, res.Size, MaxFileBytes)
	}
	if res.Content == nil || res.Encoding == nil || *res.Encoding != "base64" {
		return FileAtRef{}, fmt.Errorf("%s: the answer carries no base64 content", what)
	}
	data, err := base64.StdEncoding.DecodeString(*res.Content)
	if err != nil {
		return FileAtRef{}, fmt.Errorf("%s: malformed content: not base64", what)
	}
	out := FileAtRef{Content: data, BlobSHA: res.SHA}
	if res.LastCommitSha != nil {
		out.LastCommit = *res.LastCommitSha
	}
	return out, nil
}
