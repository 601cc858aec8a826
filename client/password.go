package client

import (
	"context"
	"net/http"
)

// SetPassword sets the password name signs in to the web UI with: the
// caller's own, or anyone's for an administrator.
func (c *Client) SetPassword(ctx context.Context, name, password string) error {
	in := struct {
		Password string `json:"password"`
	}{password}
	return c.call(ctx, http.MethodPut, path("users", name, "password"), nil, in, nil)
}
