package load

import (
	"io"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"

	"devstack/engine/model"
)

// compose-go reports some problems (an unset variable defaulting to a
// blank string, several compose files in one directory) through logrus,
// which would print them in its own format wherever devstack's output
// goes. They are collected instead and returned as project warnings.
var (
	logMu     sync.Mutex // one load at a time owns the collector
	collector = &warningHook{}
	hookOnce  sync.Once
)

type warningHook struct {
	warnings []model.Warning
}

func (h *warningHook) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (h *warningHook) Fire(e *logrus.Entry) error {
	h.warnings = append(h.warnings, model.Warning{Message: strings.TrimSuffix(e.Message, ".")})
	return nil
}

// collectWarnings runs fn with compose-go's log messages captured.
func collectWarnings(fn func() error) ([]model.Warning, error) {
	hookOnce.Do(func() {
		logrus.AddHook(collector)
		logrus.SetOutput(io.Discard)
	})
	logMu.Lock()
	defer logMu.Unlock()
	collector.warnings = nil
	err := fn()
	return collector.warnings, err
}
