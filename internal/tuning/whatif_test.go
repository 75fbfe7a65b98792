package tuning_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/pgtest"
	"github.com/rapport-dev/rapport/internal/tuning"
)

// TestWhatIfNamesEveryField: days out of range and a refused rule are one
// EINVALID naming both, so that a form shows every error at once; an
// unknown tier is ENOTFOUND before anything else is judged.
func TestWhatIfNamesEveryField(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := postgres.NewStore(pgtest.Pool(t), nil)
	require.NoError(t, store.Seed(ctx))
	svc := tuning.New(store, nil, tuning.Config{})
	medium, err := store.Tier(ctx, "medium")
	require.NoError(t, err)
	bad := medium
	bad.Rule.Caps = []outreach.Cap{{Max: 0, Window: outreach.Duration(24 * time.Hour)}}
	fields := func(err error) []string {
		var e *outreach.Error
		require.True(t, errors.As(err, &e), "%v", err)
		require.Equal(t, outreach.EINVALID, e.Code)
		var out []string
		for _, f := range e.Fields {
			out = append(out, f.Field)
		}
		return out
	}

	_, err = svc.WhatIf(ctx, bad, tuning.MaxWhatIfDays+1)
	require.Equal(t, []string{"caps[0].max", "days"}, fields(err))
	_, err = svc.WhatIf(ctx, bad, 30)
	require.Equal(t, []string{"caps[0].max"}, fields(err))
	_, err = svc.WhatIf(ctx, medium, -1)
	require.Equal(t, []string{"days"}, fields(err))

	gone := bad
	gone.Key = "gone"
	_, err = svc.WhatIf(ctx, gone, tuning.MaxWhatIfDays+1)
	require.Equal(t, outreach.ENOTFOUND, outreach.ErrorCode(err))
}
