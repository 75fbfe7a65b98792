package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
)

type topicJSON struct {
	Key  string `json:"key"`
	Name string `json:"name"`
}

func toTopicJSON(t outreach.Topic) topicJSON { return topicJSON{Key: t.Key, Name: t.Name} }

func (s *Server) listTopics(c echo.Context) error {
	topics, err := s.Store.Topics(c.Request().Context())
	if err != nil {
		return err
	}
	out, err := pageByKey(c, topics, func(t outreach.Topic) string { return t.Key }, toTopicJSON)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) createTopic(c echo.Context) error {
	var in topicJSON
	if err := decode(c, &in); err != nil {
		return err
	}
	t, err := s.Store.CreateTopic(c.Request().Context(), actor(c), outreach.Topic{Key: in.Key, Name: in.Name})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toTopicJSON(t))
}
