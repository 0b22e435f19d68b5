package main

// The participant's own tables (PROTOCOL.md section 5), in its own PostgreSQL database.

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

const ddl = `
SELECT pg_advisory_xact_lock(hashtext('go_inventory_ddl'));
CREATE TABLE IF NOT EXISTS go_inventory_steps (
    step_key           text PRIMARY KEY,
    command_message_id text,
    reply_topic        text,
    reply_key          bytea,
    reply_value        bytea,
    handled_at         timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS go_inventory_guards (
    saga_id   text    NOT NULL,
    step      text    NOT NULL,
    tombstone boolean NOT NULL,
    PRIMARY KEY (saga_id, step)
);
CREATE TABLE IF NOT EXISTS participant_effects (
    service    text        NOT NULL,
    message_id text        NOT NULL,
    order_id   text        NOT NULL,
    action     text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service, message_id)
);`

type storedReply struct {
	topic string // "" when the step was answered with no reply
	key   []byte
	value []byte
}

type store struct{ pool *pgxpool.Pool }

func openStore(ctx context.Context, url string) (*store, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, err
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		pool.Close()
		return nil, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, ddl); err != nil {
		pool.Close()
		return nil, fmt.Errorf("creating tables: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return &store{pool: pool}, nil
}

// claimTx is one command's transaction: claim, guard, effect and stored reply commit together.
type claimTx struct{ tx pgx.Tx }

func (s *store) begin(ctx context.Context) (*claimTx, error) {
	tx, err := s.pool.Begin(ctx) // READ COMMITTED: each statement sees what others committed
	if err != nil {
		return nil, &outageError{err}
	}
	return &claimTx{tx}, nil
}

// claim inserts the step key; false when it was claimed before (waiting out an open holder),
// with the reply stored then.
func (c *claimTx) claim(ctx context.Context, key string) (bool, *storedReply, error) {
	tag, err := c.tx.Exec(ctx,
		`INSERT INTO go_inventory_steps (step_key) VALUES ($1) ON CONFLICT DO NOTHING`, key)
	if err != nil {
		return false, nil, &outageError{err}
	}
	if tag.RowsAffected() == 1 {
		return true, nil, nil
	}
	var stored storedReply
	var topic *string
	err = c.tx.QueryRow(ctx,
		`SELECT reply_topic, reply_key, reply_value FROM go_inventory_steps WHERE step_key = $1`,
		key).Scan(&topic, &stored.key, &stored.value)
	if err != nil {
		return false, nil, &outageError{err}
	}
	if topic != nil {
		stored.topic = *topic
	}
	return false, &stored, nil
}

// guard locks the (saga, step) guard row; a compensation makes it a tombstone. Returns whether
// it is one (PROTOCOL.md 5.3).
func (c *claimTx) guard(ctx context.Context, sagaID, step string, compensation bool) (bool, error) {
	var tombstone bool
	// DO UPDATE locks an existing row even when it changes nothing: an execute and a
	// compensation of one step always meet here, the second waiting for the first to commit.
	err := c.tx.QueryRow(ctx, `
		INSERT INTO go_inventory_guards AS g (saga_id, step, tombstone) VALUES ($1, $2, $3)
		ON CONFLICT (saga_id, step) DO UPDATE SET tombstone = g.tombstone OR EXCLUDED.tombstone
		RETURNING tombstone`, sagaID, step, compensation).Scan(&tombstone)
	if err != nil {
		return false, &outageError{err}
	}
	return tombstone, nil
}

func (c *claimTx) effect(ctx context.Context, messageID, orderID, action string) error {
	_, err := c.tx.Exec(ctx, `
		INSERT INTO participant_effects (service, message_id, order_id, action)
		VALUES ('inventory', $1, $2, $3)`, messageID, orderID, action)
	return classify(err)
}

func (c *claimTx) record(ctx context.Context, key, commandMessageID string, reply *storedReply) error {
	var topic *string
	if reply != nil && reply.topic != "" {
		topic = &reply.topic
	}
	var k, v []byte
	if reply != nil {
		k, v = reply.key, reply.value
	}
	_, err := c.tx.Exec(ctx, `
		UPDATE go_inventory_steps SET reply_topic = $2, reply_key = $3, reply_value = $4,
		       command_message_id = $5 WHERE step_key = $1`, key, topic, k, v, commandMessageID)
	return classify(err)
}

func (c *claimTx) commit(ctx context.Context) error { return classify(c.tx.Commit(ctx)) }

func (c *claimTx) rollback(ctx context.Context) { _ = c.tx.Rollback(ctx) }

// classify: a constraint or data error is the command's fault; anything else is an outage.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code[:2] == "22" || pgErr.Code[:2] == "23") {
		return err
	}
	return &outageError{err}
}
