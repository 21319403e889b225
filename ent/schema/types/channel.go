// Package types holds small value types shared by several ent schemas.
package types

import (
	"fmt"
	"io"
	"strconv"
)

// Channel is where a unit is sold: online, on a livestream, or at a hub.
type Channel string

// Channels.
const (
	ChannelOnline Channel = "ONLINE"
	ChannelLive   Channel = "LIVE"
	ChannelHub    Channel = "HUB"
)

// Values lists the channels (ent's enum interface).
func (Channel) Values() []string {
	return []string{string(ChannelOnline), string(ChannelLive), string(ChannelHub)}
}

// MarshalGQL writes the channel as a GraphQL enum value.
func (c Channel) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(c))) }

// UnmarshalGQL reads a GraphQL enum value.
func (c *Channel) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("channel must be a string, got %T", v)
	}
	for _, x := range c.Values() {
		if s == x {
			*c = Channel(s)
			return nil
		}
	}
	return fmt.Errorf("%q is not a channel (ONLINE, LIVE, HUB)", s)
}
