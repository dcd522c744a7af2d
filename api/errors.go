package api

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/forged-dev/forged/auth"
	"github.com/forged-dev/forged/consensus"
	"github.com/forged-dev/forged/dag"
	"github.com/forged-dev/forged/dataplane"
)

// Errors the handlers return for bad requests. Each maps to one status in
// statusOf, the only place that decides statuses.
var (
	// ErrBadRequest is a request the API cannot read.
	ErrBadRequest = errors.New("bad request")
	// ErrTooLarge is a request body over the limit.
	ErrTooLarge = errors.New("request body too large")
	// ErrNotAcceptable is an Accept header naming no format we write.
	ErrNotAcceptable = errors.New("not acceptable")
)

// ErrorBody is the JSON shape of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong: a stable code for programs, a message
// for people, and details (such as every validation error) when useful.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details,omitempty"`
}

// fail writes err as an error response with the status it maps to.
func fail(c *gin.Context, err error) {
	status, code := statusOf(err)
	body := ErrorBody{Error: ErrorDetail{Code: code, Message: err.Error()}}
	var verr *dag.ValidationError
	if errors.As(err, &verr) {
		body.Error.Message = "the pipeline spec is invalid"
		if len(verr.Errors) == 1 {
			body.Error.Message += ": " + verr.Errors[0].Message
		}
		body.Error.Details = verr.Errors
	}
	c.AbortWithStatusJSON(status, body)
}

func statusOf(err error) (int, string) {
	var verr *dag.ValidationError
	var rej *consensus.Rejection
	switch {
	case errors.Is(err, auth.ErrUnauthenticated), errors.Is(err, auth.ErrForbidden):
		return auth.Status(err), auth.Code(err)
	case errors.As(err, &verr):
		return http.StatusBadRequest, "invalid_spec"
	case errors.As(err, &rej):
		switch rej.Code {
		case "not_found":
			return http.StatusNotFound, rej.Code
		case "conflict", "stale":
			return http.StatusConflict, rej.Code
		default:
			return http.StatusBadRequest, rej.Code
		}
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge, "too_large"
	case errors.Is(err, ErrNotAcceptable):
		return http.StatusNotAcceptable, "not_acceptable"
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest, "bad_request"
	case errors.Is(err, errNotFound), errors.Is(err, consensus.ErrNotFound), errors.Is(err, dataplane.ErrOutputNotFound):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, consensus.ErrNotLeader), errors.Is(err, consensus.ErrTimeout):
		return http.StatusServiceUnavailable, "unavailable"
	case errors.Is(err, consensus.ErrClosed):
		return http.StatusServiceUnavailable, "shutting_down"
	}
	return http.StatusInternalServerError, "internal"
}
