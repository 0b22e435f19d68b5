package main

import "testing"

// The test vector of docs/PROTOCOL.md section 4.
func TestReplyMessageIDMatchesTheProtocolsVector(t *testing.T) {
	got := replyMessageID("85d0bad4-cae7-53aa-8f93-4650ce729494")
	if want := "6305f7dc-2e86-5635-ad03-06f3d95666e2"; got != want {
		t.Fatalf("reply id %s, want %s", got, want)
	}
}
