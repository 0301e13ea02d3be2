// A live libpcap handle driven by Node's own event loop.
//
// Why this shape (node_pcap's issues are the counter-examples):
// - No thread and no blocking read: the handle is non-blocking and its selectable fd is watched by a
//   uv_poll_t on the environment's loop (napi_get_uv_event_loop, so it also works in worker threads).
// - One JS call per *batch*: each wake-up drains at most kMaxBatchPackets / batchBytes into a native
//   staging buffer, copies that into ONE fresh Buffer and calls JS once, then returns to the loop. A busy
//   interface therefore cannot starve other I/O (node_pcap #255 looped until the ring was empty and called
//   JS per packet). The fd is level-triggered, so what is left is picked up on the next loop turn.
// - Each batch is a new Buffer: records handed to consumers stay valid (node_pcap reused one buffer).
// - Direct mode (WriteTo, for `pcap-pipe capture -w FILE`): batches are filled into blocks of a
//   BlockWriter instead, which a thread of its own writes to the file; JS sees no packet at all.
// - Backpressure: Pause() stops the poll; the kernel ring absorbs bursts and pcap_stats counts drops.
// - Lifetime: the session owns the pcap_t and the uv handles. Close() is idempotent and safe from inside a
//   batch callback, because JS is only ever called after pcap_dispatch has returned. The session frees
//   itself once libuv has closed its handles AND its JS facade is gone. An async environment-cleanup hook
//   closes everything when the environment exits (node_pcap #211/#270 segfaulted on close and after GC).
#pragma once

#include <napi.h>
#include <pcap/pcap.h>
#include <uv.h>

#include <cstdint>
#include <memory>

#include "block_writer.h"
#include <string>
#include <vector>

namespace pcap_pipe {

// Size of the per-record header in a batch: u32 tsSec, u32 tsNsec, u32 caplen, u32 wireLength (all
// little-endian), followed by caplen bytes. That is exactly a classic pcap record (little-endian,
// nanosecond magic), so a batch can be appended as is to a pcap file written with that header.
constexpr size_t kBatchRecordHeader = 16;
// Default and hard limits for one batch (one JS call).
constexpr uint32_t kDefaultBatchPackets = 1024;
constexpr uint32_t kMaxBatchPackets = 65536;
constexpr size_t kDefaultBatchBytes = 1 << 20;
constexpr size_t kMaxBatchBytes = 64 << 20;

struct LiveOptions {
  std::string device;
  int snaplen = 262144;
  bool promiscuous = true;
  bool immediate = false;
  int timeoutMs = 1000;
  int bufferSize = 0;  // bytes; 0 keeps libpcap's default (2 MB on Linux)
  bool monitor = false;
  bool nanosecond = true;
  pcap_direction_t direction = PCAP_D_INOUT;
  bool hasFilter = false;
  std::string filter;
  uint32_t batchPackets = kDefaultBatchPackets;
  size_t batchBytes = kDefaultBatchBytes;
};

// Why opening failed: a lib/core/errors.ts code, libpcap's status name, and a message for a human.
struct OpenFailure {
  const char* code = "PCAP_LIVE";
  const char* reason = "ERROR";
  std::string message;
};

struct LiveStats {
  uint64_t received = 0;
  uint64_t dropped = 0;
  uint64_t ifDropped = 0;
};

class LiveSession {
 public:
  // Creates, configures and activates a handle. Returns nullptr and fills *failure when libpcap refuses;
  // libpcap's warnings are appended to *warnings.
  static LiveSession* Open(napi_env env, const LiveOptions& options, std::vector<std::string>* warnings,
                           OpenFailure* failure);

  // Keeps `owner` alive while open and calls onBatch(buffer, count) / onError(message) on it.
  void Bind(Napi::Object owner, Napi::Function onBatch, Napi::Function onError);

  void Start();   // begin polling (and the flush timer)
  void Pause();   // stop polling: consumer is slow
  void Resume();  // poll again
  // Drains up to one batch synchronously and returns it, or an empty Buffer when nothing was waiting.
  Napi::Value ReadBatch(Napi::Env env);
  // Direct mode (`capture -w FILE`): from now on packets go to `fd` as classic pcap records, written by a
  // BlockWriter thread, and never to JS; after `maxPackets` (0: no limit) the session closes itself.
  // onBatch(null, packetsWritten) is called once, when the handle is closed and everything is written.
  // Returns false (with *error) when called twice or after start.
  bool WriteTo(int fd, uint64_t maxPackets, std::string* error);
  // Direct mode: drains everything the kernel ring holds into the writer (waiting for free blocks if
  // need be: for the final drain before close). Returns packets drained, or -1 with *error.
  int64_t DrainToWriterAll(std::string* error);
  bool Stats(LiveStats* out, std::string* error);
  // Sends a frame; returns bytes written or -1 with *error set.
  int Inject(const void* data, size_t length, std::string* error);
  bool SetFilter(const std::string& expression, OpenFailure* failure);
  void Close();
  // The JS object is being finalized: never call it again; free when the handles are closed too.
  void DetachFacade();

  bool IsOpen() const { return state_ != State::kClosed; }
  int linkType() const { return linkType_; }
  int snaplen() const { return snaplen_; }
  bool nanosecond() const { return nanosecond_; }

 private:
  enum class State { kOpen, kRunning, kPaused, kClosed };

  LiveSession(napi_env env, pcap_t* handle, const LiveOptions& options);
  ~LiveSession();

  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnTimer(uv_timer_t* handle);
  static void OnWriterWake(uv_async_t* handle);
  static void OnPacket(u_char* user, const pcap_pkthdr* header, const u_char* bytes);
  static void OnHandleClosed(uv_handle_t* handle);
  static void OnEnvCleanup(napi_async_cleanup_hook_handle handle, void* arg);

  void StartWatching();
  void StopWatching();
  // Fills staging_ with up to one batch. Returns false (with *error) when libpcap reports an error.
  // Fills out_ from outUsed_ with up to `limit` packets (batchCount_ counts them).
  bool FillBatch(std::string* error, uint32_t limit);
  void DrainToWriter();
  void SubmitBlock();
  void WriterWoke();
  void AppendRecord(const pcap_pkthdr* header, const u_char* bytes);
  void DrainAndDeliver();
  void Fail(const std::string& message);
  void CallJs(Napi::FunctionReference& fn, std::initializer_list<napi_value> args);
  void MaybeDelete();

  napi_env env_;
  pcap_t* pcap_;
  std::string device_;
  State state_ = State::kOpen;
  bool teardown_ = false;       // the environment is exiting: never call into JS
  bool facadeAlive_ = true;     // the JS LiveHandle still points here
  int pendingHandleCloses_ = 0;
  bool handlesClosed_ = false;

  int linkType_ = 0;
  int snaplen_ = 0;
  bool nanosecond_ = false;
  int timerIntervalMs_ = 0;  // 0: no flush timer needed
  bool immediate_ = false;

  uv_poll_t poll_{};
  uv_timer_t timer_{};
  bool pollInitialized_ = false;

  // One batch is built here, then copied into a fresh JS Buffer: the staging memory is never seen by JS.
  std::vector<uint8_t> staging_;
  // Where AppendRecord writes: staging_ (JS mode) or the writer's open block (direct mode).
  uint8_t* out_ = nullptr;
  size_t outSize_ = 0;
  size_t outUsed_ = 0;

  // Direct mode (WriteTo): the writer, its wake-up handle, the block being filled and its fill.
  std::unique_ptr<BlockWriter> writer_;
  uv_async_t writerAsync_{};
  bool writerAsyncOpen_ = false;
  uint8_t* block_ = nullptr;
  size_t blockUsed_ = 0;
  bool waitingForBlock_ = false;
  bool writerFailed_ = false;
  bool writerFinished_ = false;
  uint64_t written_ = 0;
  uint64_t maxPackets_ = 0;
  size_t maxRecordBytes_ = 0;
  uint32_t batchPackets_ = kDefaultBatchPackets;
  uint32_t batchCount_ = 0;
  bool batchFull_ = false;
  uint64_t truncatedRecords_ = 0;

  LiveStats finalStats_{};
  bool haveFinalStats_ = false;

  Napi::ObjectReference owner_;
  Napi::FunctionReference onBatch_;
  Napi::FunctionReference onError_;
  std::unique_ptr<Napi::AsyncContext> asyncContext_;
  napi_async_cleanup_hook_handle cleanupHook_ = nullptr;
};

}  // namespace pcap_pipe
