package queue

import "github.com/foliohealth/folio/broker"

// jsAPI is the JetStream API subject prefix.
const jsAPI = "$JS.API."

// Streams behind the buckets.
const (
	streamKVJobs    = "KV_" + BucketJobs
	streamKVRecords = "KV_" + BucketRecords
	streamKVIndex   = "KV_" + BucketIndex
	streamObjects   = "OBJ_" + BucketBinaries
)

// readStream is what reading one bucket's stream takes: binding to it
// (stream info), getting messages (direct and API gets, KV and Object
// Store lookups) and the ordered consumers that KV listings and Object
// Store reads create, delete and acknowledge flow control for.
func readStream(stream string) []string {
	return []string{
		jsAPI + "STREAM.INFO." + stream,
		jsAPI + "DIRECT.GET." + stream,
		jsAPI + "DIRECT.GET." + stream + ".>",
	}
}

func consumeStream(stream string) []string {
	return []string{
		jsAPI + "CONSUMER.CREATE." + stream + ".>",
		jsAPI + "CONSUMER.DELETE." + stream + ".>",
		"$JS.FC." + stream + ".>",
	}
}

// RolePermissions returns the publish and subscribe allow-lists of role,
// the least that its folio processes need. Every role may subscribe only
// to its own inbox (Role.InboxPrefix) besides what is listed here.
//
// What the subjects are: $JS.API.* are JetStream API requests (stream and
// consumer management, message gets); $KV.<bucket>.<key> writes a KV
// entry; $O.<bucket>.* writes Object Store chunks and infos;
// $JS.ACK.<stream>.<consumer>.* acknowledges a delivered job; $JS.FC.*
// answers an ordered consumer's flow control.
func RolePermissions(role broker.Role) broker.Permissions {
	inbox := role.InboxPrefix() + ".>"
	var p broker.Permissions
	switch role {
	case broker.RoleAdmin:
		return broker.Permissions{Publish: []string{">"}, Subscribe: []string{">"}}
	case broker.RoleSubmitter:
		p.Publish = append([]string{SubjectJobs}, readStream(streamKVJobs)...)
		// Versions of unversioned input (HL7 v2): the content histories
		// in the index, and nothing else of it.
		p.Publish = append(p.Publish,
			jsAPI+"STREAM.INFO."+streamKVIndex,
			jsAPI+"DIRECT.GET."+streamKVIndex+".$KV."+BucketIndex+".content.>",
			"$KV."+BucketIndex+".content.>")
		p.Subscribe = []string{SubjectJobEvents}
	case broker.RoleAPI:
		for _, s := range []string{streamKVRecords, streamKVIndex, streamObjects} {
			p.Publish = append(p.Publish, readStream(s)...)
		}
		for _, s := range []string{streamKVIndex, streamObjects} {
			p.Publish = append(p.Publish, consumeStream(s)...)
		}
	case broker.RoleWorker:
		all := []string{StreamJobs, StreamEvents, streamKVJobs, streamKVRecords, streamKVIndex, streamObjects}
		for _, s := range all {
			p.Publish = append(p.Publish,
				jsAPI+"STREAM.CREATE."+s,
				jsAPI+"STREAM.UPDATE."+s)
		}
		for _, s := range []string{streamKVJobs, streamKVRecords, streamKVIndex, streamObjects} {
			p.Publish = append(p.Publish, readStream(s)...)
		}
		for _, s := range []string{streamKVIndex, streamObjects} {
			p.Publish = append(p.Publish, consumeStream(s)...)
		}
		p.Publish = append(p.Publish,
			// Account information (limits, usage; no data): nats.go
			// checks it before creating a bucket.
			jsAPI+"INFO",
			jsAPI+"STREAM.INFO."+StreamJobs,
			jsAPI+"STREAM.INFO."+StreamEvents,
			// The render consumer: create or update it, read its state
			// (queue depth), pull jobs, acknowledge them.
			jsAPI+"CONSUMER.CREATE."+StreamJobs+"."+ConsumerRender,
			jsAPI+"CONSUMER.INFO."+StreamJobs+"."+ConsumerRender,
			jsAPI+"CONSUMER.MSG.NEXT."+StreamJobs+"."+ConsumerRender,
			"$JS.ACK."+StreamJobs+"."+ConsumerRender+".>",
			// The sweep reads jobs the server gave up on by sequence and
			// removes them.
			jsAPI+"STREAM.MSG.GET."+StreamJobs,
			jsAPI+"STREAM.MSG.DELETE."+StreamJobs,
			// Removing the chunks of a Binary that was not stored whole.
			jsAPI+"STREAM.PURGE."+streamObjects,
			// Removing the document index entries of a record entered in
			// error (leaving no deletion marker, see store/index.go).
			jsAPI+"STREAM.PURGE."+streamKVIndex,
			// What a worker writes.
			"$KV."+BucketJobs+".>",
			"$KV."+BucketRecords+".>",
			"$KV."+BucketIndex+".>",
			"$O."+BucketBinaries+".>",
			"folio.events.job.>",
		)
		// Job events: a worker publishes them; folio serve's console
		// counts them.
		p.Subscribe = []string{subjectMaxDeliver, SubjectJobEvents}
	default:
		return broker.Permissions{}
	}
	p.Subscribe = append(p.Subscribe, inbox)
	return p
}
