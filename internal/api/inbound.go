package api

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/esp"
	"github.com/rapport-dev/rapport/internal/feedback"
	"github.com/rapport-dev/rapport/internal/outreach"
)

// Providers are the email providers' bounce and complaint webhooks
// (POST /api/v1/inbound/{ses,sendgrid,postmark,mailgun}), each
// authenticated as its provider signs; a nil receiver is not configured
// and its route answers 404.
type Providers struct {
	SNS      *esp.SNS
	SNSDoer  esp.HTTPDoer // confirms SNS subscriptions
	SendGrid *esp.SendGrid
	Postmark *esp.Postmark
	Mailgun  *esp.Mailgun
	Feedback FeedbackApplier
}

// FeedbackApplier applies a report (feedback.Service).
type FeedbackApplier interface {
	Apply(ctx context.Context, r feedback.Report) (feedback.Outcome, error)
}

// inboundJSON is what a provider's webhook is answered: every event was
// taken, whatever became of it (an unknown event type is ignored, never an
// error to the provider).
type inboundJSON struct {
	Applied    int `json:"applied"`
	Duplicates int `json:"duplicates"`
	Ignored    int `json:"ignored"`
}

func notConfigured(provider string) error {
	return outreach.Errorf(outreach.ENOTFOUND, "the %s webhook is not configured on this server", provider)
}

// providerError maps a receiver's error: a forged or unsigned request is a
// 401, a body it cannot read a 400, anything else (a certificate that
// could not be fetched) our failure, which the provider retries.
func providerError(err error) error {
	switch {
	case errors.Is(err, esp.ErrUnauthenticated):
		return outreach.Errorf(outreach.EUNAUTHORIZED, "the request is not signed by the provider")
	case errors.Is(err, esp.ErrMalformed):
		return newBadRequest("", "the body is not a webhook payload this endpoint understands")
	}
	return err
}

// applyEvents applies a provider's events and answers the tally.
func (s *Server) applyEvents(c echo.Context, events []esp.Event) error {
	var out inboundJSON
	for _, ev := range events {
		r := feedback.Report{Source: ev.Provider, Kind: string(ev.Kind), Email: ev.Email, MessageID: ev.MessageID,
			Detail: ev.Type, Authenticated: true}
		if ev.ProviderID != "" {
			r.EventID = ev.ProviderID + ":" + ev.Email
		}
		if ev.Detail != "" {
			r.Detail += ": " + ev.Detail
		}
		o, err := s.Providers.Feedback.Apply(c.Request().Context(), r)
		if err != nil {
			return err
		}
		switch o {
		case feedback.Applied:
			out.Applied++
		case feedback.Duplicate:
			out.Duplicates++
		default:
			out.Ignored++
		}
	}
	return c.JSON(http.StatusOK, out)
}

func readRaw(c echo.Context) ([]byte, error) {
	b, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return nil, decodeError(err)
	}
	return b, nil
}

func (s *Server) inboundSES(c echo.Context) error {
	p := s.Providers
	if p.SNS == nil {
		return notConfigured("Amazon SES (SNS)")
	}
	body, err := readRaw(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	m, err := p.SNS.Receive(ctx, body, s.Clock.Now())
	if err != nil {
		return providerError(err)
	}
	switch m.Type {
	case esp.SNSSubscriptionConfirmation:
		if err := p.SNS.Confirm(ctx, p.SNSDoer, m.SubscribeURL); err != nil {
			s.log.Warn("SNS subscription not confirmed", "topic", m.TopicARN, "error", err.Error())
			return err
		}
		s.log.Info("SNS subscription confirmed", "topic", m.TopicARN)
		return c.JSON(http.StatusOK, inboundJSON{})
	case esp.SNSNotification:
		return s.applyEvents(c, m.Events)
	}
	return c.JSON(http.StatusOK, inboundJSON{}) // an unsubscribe confirmation: nothing to do
}

func (s *Server) inboundSendGrid(c echo.Context) error {
	if s.Providers.SendGrid == nil {
		return notConfigured("SendGrid")
	}
	body, err := readRaw(c)
	if err != nil {
		return err
	}
	events, err := s.Providers.SendGrid.Receive(c.Request().Header, body, s.Clock.Now())
	if err != nil {
		return providerError(err)
	}
	return s.applyEvents(c, events)
}

func (s *Server) inboundPostmark(c echo.Context) error {
	if s.Providers.Postmark == nil {
		return notConfigured("Postmark")
	}
	body, err := readRaw(c)
	if err != nil {
		return err
	}
	events, err := s.Providers.Postmark.Receive(c.Request().Header, body)
	if err != nil {
		return providerError(err)
	}
	return s.applyEvents(c, events)
}

func (s *Server) inboundMailgun(c echo.Context) error {
	if s.Providers.Mailgun == nil {
		return notConfigured("Mailgun")
	}
	body, err := readRaw(c)
	if err != nil {
		return err
	}
	events, err := s.Providers.Mailgun.Receive(body, s.Clock.Now())
	if err != nil {
		return providerError(err)
	}
	return s.applyEvents(c, events)
}
