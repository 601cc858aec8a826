package sitrep

import (
	"errors"
	"fmt"
)

// Kind classifies an error so that every adapter gives the same answer: the API
// turns it into an HTTP status and a problem type, the CLI into an exit message.
type Kind string

// The error kinds. Their string values are stable: they appear in API problem
// types and in scripts that read them.
const (
	EInvalid      Kind = "invalid"      // the request is malformed or a value is out of range
	ENotFound     Kind = "not-found"    // the thing does not exist, or the caller may not see it
	EConflict     Kind = "conflict"     // the request is valid but the current state forbids it
	EForbidden    Kind = "forbidden"    // an ICS rule or the caller's organisation role forbids it
	EUnauthorized Kind = "unauthorized" // no valid credential
	EInternal     Kind = "internal"     // a fault of the server; its text is never shown to clients
)

// Error is the one error type of sitrep. Op names the operation that failed,
// Field the input that is wrong (if any), Rule the ICS rule that refused the
// request (if any), and Message a sentence safe to show to the client.
type Error struct {
	Kind    Kind
	Op      string
	Field   string
	Rule    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	} else if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.Op != "" {
		return e.Op + ": " + msg
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of kind with a formatted, client-safe message.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EInvalid error naming the field that is wrong.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Kind: EInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Refuse returns an EForbidden error for a request an ICS rule refuses.
// rule is a stable name of the rule, such as "freelancing".
func Refuse(rule, format string, args ...any) *Error {
	return &Error{Kind: EForbidden, Rule: rule, Message: fmt.Sprintf(format, args...)}
}

// ErrorKind returns the kind of err: the Kind of the outermost *Error in its
// chain, or EInternal when there is none.
func ErrorKind(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return EInternal
}

// ErrorMessage returns the client-safe message of err, or a generic sentence
// for internal errors, whose text must never reach a client.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Kind != EInternal {
		if e.Message != "" {
			return e.Message
		}
	}
	return "internal error"
}

// AsError returns the outermost *Error in err's chain, or nil.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}
