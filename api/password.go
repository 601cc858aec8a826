package api

import (
	"net/http"

	"github.com/sitrep-ir/sitrep/password"
)

// passwordBody is the body of PUT /api/v1/users/{name}/password.
type passwordBody struct {
	Password string `json:"password"`
}

// setPassword sets the password a person signs in to the web UI with:
// their own, or anyone's for an administrator. It answers 204.
func setPassword(a *API, w http.ResponseWriter, r *http.Request) error {
	var in passwordBody
	if err := a.decodeBody(w, r, &in, bodyRequired); err != nil {
		return err
	}
	hash := func(pw string) (string, error) { return password.HashContext(r.Context(), pw) }
	if err := a.svc.SetPassword(r.Context(), user(r), r.PathValue("name"), in.Password, hash); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
