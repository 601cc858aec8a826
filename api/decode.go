package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sitrep-ir/sitrep"
)

// DefaultMaxBody is the request body limit when Config.MaxBody is not set.
const DefaultMaxBody = 1 << 20

// Whether a route's body may be left out.
const (
	bodyRequired = false
	bodyOptional = true
)

// decodeBody reads the request's JSON body into v, which must be a pointer to
// a struct. It refuses bodies over the limit (413), bodies that are not JSON
// by their Content-Type (415), and JSON that is malformed, has fields v does
// not know, or trails data (400), naming the problem. An empty body is
// accepted, leaving v as it is, only when optional.
func (a *API) decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	if r.ContentLength > a.maxBody {
		return tooLarge(a.maxBody)
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return tooLarge(a.maxBody)
		}
		return sitrep.Invalid("body", "body: could not be read: the request ended early")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		if optional {
			return nil
		}
		return sitrep.Invalid("body", "body: a JSON object is required")
	}
	if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, len(data))
	}
	if _, err := dec.Token(); err != io.EOF {
		return sitrep.Invalid("body", "body: unexpected data after the JSON object at offset %d", dec.InputOffset())
	}
	return nil
}

func tooLarge(limit int64) error {
	return &sitrep.Error{Kind: kindPayloadTooLarge, Field: "body", Message: fmt.Sprintf("body: larger than the limit of %d bytes", limit)}
}

// checkJSONContentType accepts application/json and the application/*+json
// types, with any parameters.
func checkJSONContentType(ct string) error {
	media, _, err := mime.ParseMediaType(ct)
	if err == nil && (media == "application/json" || strings.HasPrefix(media, "application/") && strings.HasSuffix(media, "+json")) {
		return nil
	}
	if ct == "" {
		ct = "none"
	} else {
		ct = strconv.Quote(clip(ct, 80))
	}
	return &sitrep.Error{Kind: kindUnsupportedMedia, Field: "Content-Type", Message: fmt.Sprintf("Content-Type %s is not supported: send the body as application/json", ct)}
}

// jsonError turns a decoding error into a client error that says where the
// body is wrong. encoding/json's messages hold nothing but the input's shape.
func jsonError(err error, size int) error {
	if e, ok := errors.AsType[*json.SyntaxError](err); ok {
		return sitrep.Invalid("body", "body: invalid JSON at offset %d: %s", e.Offset, e.Error())
	}
	if e, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if e.Field == "" {
			return sitrep.Invalid("body", "body: must be a JSON object, not %s", jsonValue(e.Value))
		}
		return sitrep.Invalid(e.Field, "body: field %q must be %s, not %s", e.Field, jsonType(e.Type), jsonValue(e.Value))
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return sitrep.Invalid("body", "body: invalid JSON: it ends early, after %d bytes", size)
	}
	// encoding/json has no error type for an unknown field.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		field, uerr := strconv.Unquote(name)
		if uerr != nil {
			field = name
		}
		return sitrep.Invalid(field, "body: unknown field %q", clip(field, 80))
	}
	return sitrep.Invalid("body", "body: invalid JSON: %s", clip(err.Error(), 200))
}

// jsonType names the JSON type a Go type decodes from.
func jsonType(t reflect.Type) string {
	if t == nil {
		return "a JSON value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "a JSON value"
}

// jsonValue names the kind of JSON value encoding/json reports ("number",
// "number 1.5", "string", "array", …) with an article.
func jsonValue(v string) string {
	switch {
	case strings.HasPrefix(v, "array"), strings.HasPrefix(v, "object"):
		return "an " + v
	case v == "":
		return "this value"
	}
	return "a " + clip(v, 40)
}

// queryInt parses the query parameter name as a whole number in [min, max];
// def when it is absent.
func queryInt(r *http.Request, name string, def, min, max int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < min || n > max {
		return 0, sitrep.Invalid(name, "query parameter %s=%q is not valid: give a whole number from %d to %d", name, clip(s, 40), min, max)
	}
	return n, nil
}

// queryBool parses the query parameter name as true or false; false when it
// is absent.
func queryBool(r *http.Request, name string) (bool, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, sitrep.Invalid(name, "query parameter %s=%q is not valid: give true or false", name, clip(s, 40))
	}
	return b, nil
}

// clip shortens s to n bytes at most (on a rune boundary), marking the cut,
// so that echoing input back stays short.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
