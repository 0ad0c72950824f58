//go:build streadway

package warrengo

import amqp "github.com/streadway/amqp"

// Library names the AMQP client these tests run with (built with -tags streadway).
const Library = "github.com/streadway/amqp"

// The client's types and functions under library-neutral names, so that the
// same test source runs against amqp091-go and (with -tags streadway) against
// streadway/amqp, whose APIs are the same.
type (
	Connection   = amqp.Connection
	Channel      = amqp.Channel
	Delivery     = amqp.Delivery
	Publishing   = amqp.Publishing
	Confirmation = amqp.Confirmation
	Return       = amqp.Return
	Error        = amqp.Error
	Table        = amqp.Table
)

const Persistent = amqp.Persistent

var Dial = amqp.Dial
