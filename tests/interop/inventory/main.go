// Command inventory is the order saga's inventory service written in Go, from docs/PROTOCOL.md:
// it reserves stock for ReserveInventory (InventoryReserved, or InventoryUnavailable for a
// declined quantity) and releases it for ReleaseInventory (InventoryReleased), executing each
// step at most once (step key claimed with the effect in one PostgreSQL transaction, stored
// reply re-sent to repeats, compensation tombstone, CommandRefused) and dead-letters poison.
//
// Configuration (environment):
//
//	INVENTORY_KAFKA_BOOTSTRAP    brokers, comma-separated (default 127.0.0.1:9092)
//	INVENTORY_TOPICS             command topics, comma-separated (default inventory.commands)
//	INVENTORY_GROUP              consumer group (default participant-inventory-go)
//	INVENTORY_REGISTRY_URL       Confluent-compatible schema registry (default http://127.0.0.1:8081)
//	INVENTORY_REGISTRY_BASIC_AUTH user:password, optional
//	INVENTORY_SUBJECT_NAME_STRATEGY TOPIC_RECORD (default), RECORD or TOPIC
//	INVENTORY_DATABASE_URL       the service's own PostgreSQL database
//	INVENTORY_SCHEMAS            directories of .avsc files, comma-separated
//	                             (default sagas/schemas/order_fulfilment,orchestrator/saga/schemas)
//	INVENTORY_DECLINE_QUANTITY   answer InventoryUnavailable for this quantity (default 0: never)
//	INVENTORY_HOLD_ATTEMPT_1_MS  hold the first attempt of each step this long inside its
//	                             transaction, key claimed (a participant slower than the timeout)
//
// Exit 0 on SIGTERM or SIGINT, 2 for a bad setting, 3 when a dependency is unreachable at start.
package main

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
)

const (
	reserveInventory     = "saga.examples.order.ReserveInventory"
	releaseInventory     = "saga.examples.order.ReleaseInventory"
	inventoryReserved    = "saga.examples.order.InventoryReserved"
	inventoryUnavailable = "saga.examples.order.InventoryUnavailable"
	inventoryReleased    = "saga.examples.order.InventoryReleased"
	commandRefused       = "saga.orchestrator.CommandRefused"
)

var accepted = map[string]bool{reserveInventory: true, releaseInventory: true}

type config struct {
	bootstrap, topics, group, registryURL, registryAuth, strategy, databaseURL, schemas string
	declineQuantity                                                                     int
	holdFirst                                                                           time.Duration
}

func env(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

func loadConfig() (config, error) {
	c := config{
		bootstrap:    env("INVENTORY_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
		topics:       env("INVENTORY_TOPICS", "inventory.commands"),
		group:        env("INVENTORY_GROUP", "participant-inventory-go"),
		registryURL:  env("INVENTORY_REGISTRY_URL", "http://127.0.0.1:8081"),
		registryAuth: os.Getenv("INVENTORY_REGISTRY_BASIC_AUTH"),
		strategy:     strings.ToUpper(env("INVENTORY_SUBJECT_NAME_STRATEGY", "TOPIC_RECORD")),
		databaseURL:  os.Getenv("INVENTORY_DATABASE_URL"),
		schemas:      env("INVENTORY_SCHEMAS", "sagas/schemas/order_fulfilment,orchestrator/saga/schemas"),
	}
	if c.databaseURL == "" {
		return c, errors.New("INVENTORY_DATABASE_URL is required")
	}
	if c.strategy != "TOPIC_RECORD" && c.strategy != "RECORD" && c.strategy != "TOPIC" {
		return c, fmt.Errorf("INVENTORY_SUBJECT_NAME_STRATEGY: unknown strategy %q", c.strategy)
	}
	var err error
	if c.declineQuantity, err = strconv.Atoi(env("INVENTORY_DECLINE_QUANTITY", "0")); err != nil {
		return c, fmt.Errorf("INVENTORY_DECLINE_QUANTITY: %w", err)
	}
	hold, err := strconv.Atoi(env("INVENTORY_HOLD_ATTEMPT_1_MS", "0"))
	if err != nil || hold < 0 {
		return c, fmt.Errorf("INVENTORY_HOLD_ATTEMPT_1_MS: not a non-negative integer")
	}
	c.holdFirst = time.Duration(hold) * time.Millisecond
	return c, nil
}

func main() {
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintf(os.Stderr, "inventory: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	svc, err := newService(ctx, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "inventory: %v\n", err)
		os.Exit(3)
	}
	defer svc.close()
	svc.run(ctx)
}

type service struct {
	cfg    config
	log    *slog.Logger
	kafka  *kgo.Client
	codec  *codec
	store  *store
	sleeps func(context.Context, time.Duration) bool
}

// librdkafka's default partitioner (CRC-32 of the key), as PROTOCOL.md section 1 advises; a dead
// letter keeps the partition number of the record it holds.
func partitioner() kgo.Partitioner {
	return kgo.BasicConsistentPartitioner(func(topic string) func(*kgo.Record, int) int {
		if strings.HasSuffix(topic, ".dlt") {
			return func(r *kgo.Record, n int) int { return int(r.Partition) % n }
		}
		return func(r *kgo.Record, n int) int { return int(crc32.ChecksumIEEE(r.Key) % uint32(n)) }
	})
}

func newService(ctx context.Context, cfg config) (*service, error) {
	readers, texts, err := loadSchemas(strings.Split(cfg.schemas, ",")...)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{reserveInventory, releaseInventory, inventoryReserved, inventoryUnavailable, inventoryReleased, commandRefused} {
		if _, ok := readers[name]; !ok {
			return nil, fmt.Errorf("no schema file for %s in %s", name, cfg.schemas)
		}
	}
	opts := []sr.ClientOpt{sr.URLs(cfg.registryURL)}
	if cfg.registryAuth != "" {
		user, pass, _ := strings.Cut(cfg.registryAuth, ":")
		opts = append(opts, sr.BasicAuth(user, pass))
	}
	registry, err := sr.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, cfg.databaseURL)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	kafka, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(cfg.bootstrap, ",")...),
		kgo.ConsumerGroup(cfg.group),
		kgo.ConsumeTopics(strings.Split(cfg.topics, ",")...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(), // a batch is answered and committed before partitions move
		kgo.RecordPartitioner(partitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ClientID("participant-inventory-go"),
	)
	if err != nil {
		st.pool.Close()
		return nil, err
	}
	return &service{
		cfg:   cfg,
		log:   slog.New(slog.NewJSONHandler(os.Stderr, nil)),
		kafka: kafka,
		codec: newCodec(registry, cfg.strategy, readers, texts),
		store: st,
		sleeps: func(ctx context.Context, d time.Duration) bool {
			select {
			case <-ctx.Done():
				return false
			case <-time.After(d):
				return true
			}
		},
	}, nil
}

func (s *service) close() {
	s.kafka.Close()
	s.store.pool.Close()
}

func (s *service) run(ctx context.Context) {
	s.log.Info("inventory running", "topics", s.cfg.topics, "group", s.cfg.group)
	for ctx.Err() == nil {
		fetches := s.kafka.PollRecords(ctx, 500)
		fetches.EachError(func(topic string, partition int32, err error) {
			if !errors.Is(err, context.Canceled) {
				s.log.Warn("fetch error", "topic", topic, "partition", partition, "error", err.Error())
			}
		})
		records := fetches.Records()
		done := 0
		for _, record := range records {
			if !s.processUntilDone(ctx, record) {
				break // stopping: the rest is redelivered to whoever owns the partition next
			}
			done++
		}
		if done > 0 {
			if err := s.kafka.CommitRecords(context.Background(), records[:done]...); err != nil {
				// Partitions moved meanwhile: their next owner answers the repeats from the store.
				s.log.Warn("offsets not committed", "error", err.Error())
			}
		}
		s.kafka.AllowRebalance()
	}
	s.log.Info("inventory stopped")
}

// processUntilDone handles one command, retrying while a dependency is down. False: stopping.
func (s *service) processUntilDone(ctx context.Context, record *kgo.Record) bool {
	delay := 100 * time.Millisecond
	for {
		err := s.process(ctx, record)
		var outage *outageError
		if err == nil || !errors.As(err, &outage) {
			if err != nil {
				s.deadLetter(ctx, record, err, "handler_failed")
			}
			return true
		}
		s.log.Warn("dependency unavailable; retrying", "error", err.Error(), "offset", record.Offset)
		if !s.sleeps(ctx, delay) {
			return false
		}
		delay = min(delay*2, 5*time.Second)
	}
}

// process is PROTOCOL.md section 5.2 for one command.
func (s *service) process(ctx context.Context, record *kgo.Record) error {
	name, fields, err := s.codec.decode(ctx, record.Topic, record.Value, accepted)
	var bad *poisonError
	if errors.As(err, &bad) {
		s.deadLetter(ctx, record, err, bad.reason)
		return nil
	}
	if err != nil {
		return err
	}
	id := identify(record)
	replyTopic, ok := header(record, hReplyTopic)
	if !ok || replyTopic == "" {
		s.deadLetter(ctx, record, fmt.Errorf("the command has no %s header", hReplyTopic), "handler_failed")
		return nil
	}
	tx, err := s.store.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.rollback(ctx)
	claimed, stored, err := tx.claim(ctx, id.key)
	if err != nil {
		return err
	}
	if !claimed {
		if err := tx.commit(ctx); err != nil {
			return err
		}
		if stored.topic == "" {
			return nil // the step was answered with no reply: so is its repeat
		}
		s.log.Info("repeat answered with the stored reply", "step_key", id.key, "message_id", id.messageID)
		return s.send(ctx, &kgo.Record{Topic: stored.topic, Key: stored.key, Value: stored.value, Headers: replyHeaders(record, id)})
	}
	reply, err := s.execute(ctx, tx, record, id, name, fields, replyTopic)
	if err != nil {
		return err
	}
	if err := tx.record(ctx, id.key, id.messageID, reply); err != nil {
		return err
	}
	if err := tx.commit(ctx); err != nil {
		return err
	}
	return s.send(ctx, &kgo.Record{Topic: reply.topic, Key: reply.key, Value: reply.value, Headers: replyHeaders(record, id)})
}

// execute runs the step (or refuses it, PROTOCOL.md 5.3) inside tx; returns the reply to store.
func (s *service) execute(ctx context.Context, tx *claimTx, record *kgo.Record, id identity, name string, fields map[string]any, replyTopic string) (*storedReply, error) {
	if id.kind != "" && id.step != "" && id.sagaID != "" {
		tombstone, err := tx.guard(ctx, id.sagaID, id.step, id.kind == kindCompensate)
		if err != nil {
			return nil, err
		}
		if tombstone && id.kind == kindExecute {
			s.log.Info("command refused: its step was compensated first", "saga_id", id.sagaID, "step", id.step)
			return s.reply(ctx, replyTopic, id, commandRefused, map[string]any{
				"saga_id": id.sagaID, "step": id.step, "reason": "compensated",
			})
		}
	}
	orderID, _ := fields["order_id"].(string)
	if attempt, _ := header(record, hAttempt); attempt == "1" && s.cfg.holdFirst > 0 {
		s.sleeps(ctx, s.cfg.holdFirst) // the key stays claimed: a repeat waits on it
	}
	switch name {
	case reserveInventory:
		quantity, _ := fields["quantity"].(int)
		if quantity == s.cfg.declineQuantity {
			return s.reply(ctx, replyTopic, id, inventoryUnavailable, map[string]any{
				"order_id": orderID, "reason": fmt.Sprintf("inventory declined quantity %d (go)", quantity),
			})
		}
		if err := tx.effect(ctx, id.messageID, orderID, "reserve"); err != nil {
			return nil, err
		}
		return s.reply(ctx, replyTopic, id, inventoryReserved, map[string]any{
			"order_id": orderID, "reservation_id": "go-stock-" + orderID,
		})
	default: // releaseInventory, the only other accepted type
		if err := tx.effect(ctx, id.messageID, orderID, "release"); err != nil {
			return nil, err
		}
		return s.reply(ctx, replyTopic, id, inventoryReleased, map[string]any{"order_id": orderID})
	}
}

func (s *service) reply(ctx context.Context, topic string, id identity, name string, fields map[string]any) (*storedReply, error) {
	value, err := s.codec.encode(ctx, topic, name, fields)
	if err != nil {
		return nil, err
	}
	return &storedReply{topic: topic, key: []byte(id.sagaID), value: value}, nil
}

func (s *service) send(ctx context.Context, record *kgo.Record) error {
	if err := s.kafka.ProduceSync(ctx, record).FirstErr(); err != nil {
		return &outageError{err}
	}
	return nil
}

// deadLetter is PROTOCOL.md section 7; it retries until the dead letter is acknowledged.
func (s *service) deadLetter(ctx context.Context, record *kgo.Record, cause error, reason string) {
	headers := make([]kgo.RecordHeader, 0, len(record.Headers)+9)
	for _, h := range record.Headers {
		if !strings.HasPrefix(h.Key, "dlt.") {
			headers = append(headers, h)
		}
	}
	message := cause.Error()
	if !strings.HasPrefix(message, reason+": ") {
		message = reason + ": " + message
	}
	for _, h := range [][2]string{
		{"dlt.original.topic", record.Topic},
		{"dlt.original.partition", strconv.Itoa(int(record.Partition))},
		{"dlt.original.offset", strconv.FormatInt(record.Offset, 10)},
		{"dlt.original.timestamp", strconv.FormatInt(record.Timestamp.UnixMilli(), 10)},
		{"dlt.original.consumer.group", s.cfg.group},
		{"dlt.exception.class", fmt.Sprintf("%T", cause)},
		{"dlt.exception.message", message},
		{"dlt.exception.stacktrace", ""},
		{"dlt.attempts", "1"},
	} {
		headers = append(headers, kgo.RecordHeader{Key: h[0], Value: []byte(h[1])})
	}
	letter := &kgo.Record{Topic: record.Topic + ".dlt", Partition: record.Partition, Key: record.Key, Value: record.Value, Headers: headers}
	s.log.Warn("command dead-lettered", "topic", record.Topic, "partition", record.Partition, "offset", record.Offset, "reason", reason, "error", cause.Error())
	for delay := 100 * time.Millisecond; ; delay = min(delay*2, 5*time.Second) {
		err := s.kafka.ProduceSync(ctx, letter).FirstErr()
		if err == nil || !s.sleeps(ctx, delay) {
			return
		}
		s.log.Warn("dead letter not acknowledged; retrying", "error", err.Error())
	}
}
