package main

// Header names and identifiers of docs/PROTOCOL.md, version 1.

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	hMessageID   = "saga_message_id"
	hSagaID      = "saga_id"
	hSagaType    = "saga_type"
	hStep        = "saga_step"
	hAttempt     = "saga_attempt"
	hStepKey     = "saga_step_key"
	hCommandKind = "saga_command_kind"
	hReplyTopic  = "saga_reply_topic"
	hCorrelation = "correlation_id"
	hCausation   = "causation_id"
	hTraceparent = "traceparent"
	hTracestate  = "tracestate"

	kindExecute    = "execute"
	kindCompensate = "compensate"
)

// PROTOCOL.md section 4: uuid5(0b7e1f5c-2d43-4c8a-9a61-5f3e8d2c7b10, command message id).
var replyNamespace = mustUUIDBytes("0b7e1f5c-2d43-4c8a-9a61-5f3e8d2c7b10")

func mustUUIDBytes(text string) []byte {
	compact := text[0:8] + text[9:13] + text[14:18] + text[19:23] + text[24:]
	b, err := hex.DecodeString(compact)
	if err != nil || len(b) != 16 {
		panic("bad uuid " + text)
	}
	return b
}

// uuid5 is RFC 4122's name-based UUID, version 5 (SHA-1), in canonical lowercase form.
func uuid5(namespace []byte, name string) string {
	sum := sha1.Sum(append(append([]byte{}, namespace...), name...))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:])
}

func replyMessageID(commandMessageID string) string {
	return uuid5(replyNamespace, commandMessageID)
}

func header(r *kgo.Record, name string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == name {
			return string(h.Value), true
		}
	}
	return "", false
}

// identity is what one command is deduplicated on (PROTOCOL.md 5.1).
type identity struct {
	messageID string
	sagaID    string
	step      string
	kind      string // "execute", "compensate" or "" (a hand-sent command: no guard)
	key       string
}

func identify(r *kgo.Record) identity {
	id := identity{}
	var ok bool
	if id.messageID, ok = header(r, hMessageID); !ok || id.messageID == "" {
		id.messageID = fmt.Sprintf("%s:%d:%d", r.Topic, r.Partition, r.Offset)
	}
	if id.sagaID, ok = header(r, hSagaID); !ok || id.sagaID == "" {
		id.sagaID = string(r.Key)
	}
	id.step, _ = header(r, hStep)
	id.kind, _ = header(r, hCommandKind)
	if id.kind != kindExecute && id.kind != kindCompensate {
		id.kind = ""
	}
	if id.key, ok = header(r, hStepKey); !ok || id.key == "" {
		id.key = id.messageID
	}
	return id
}

// replyHeaders addresses a reply to the command asking now (PROTOCOL.md 4 and 5.2 step 3).
func replyHeaders(command *kgo.Record, id identity) []kgo.RecordHeader {
	headers := []kgo.RecordHeader{
		{Key: hMessageID, Value: []byte(replyMessageID(id.messageID))},
		{Key: hSagaID, Value: []byte(id.sagaID)},
		{Key: hCausation, Value: []byte(id.messageID)},
	}
	for _, name := range []string{hSagaType, hStep, hAttempt, hCorrelation, hTraceparent, hTracestate} {
		if value, ok := header(command, name); ok {
			headers = append(headers, kgo.RecordHeader{Key: name, Value: []byte(value)})
		}
	}
	return headers
}
