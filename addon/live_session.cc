#include "live_session.h"

#include <algorithm>
#include <cstring>

#include "common.h"

namespace pcap_pipe {
namespace {

constexpr int kMinTimerIntervalMs = 10;
// Direct mode: blocks in the writer's pool, and most blocks filled per wake-up.
constexpr int kWriterBlocks = 4;
constexpr int kWriterRoundsPerWake = 4;

void WriteU32LE(uint8_t* out, uint32_t v) {
  out[0] = static_cast<uint8_t>(v);
  out[1] = static_cast<uint8_t>(v >> 8);
  out[2] = static_cast<uint8_t>(v >> 16);
  out[3] = static_cast<uint8_t>(v >> 24);
}

// A hint for the failures people actually hit, appended to libpcap's own text.
std::string HintFor(int status) {
  switch (status) {
    case PCAP_ERROR_PERM_DENIED:
    case PCAP_ERROR_PROMISC_PERM_DENIED:
      return " — run as root or give the binary CAP_NET_RAW (and CAP_NET_ADMIN), e.g. "
             "`sudo setcap cap_net_raw,cap_net_admin=eip \"$(readlink -f \"$(which node)\")\"`";
    case PCAP_ERROR_NO_SUCH_DEVICE:
      return " — list devices with `pcap-pipe devices`";
    case PCAP_ERROR_IFACE_NOT_UP:
      return " — bring the interface up first";
    case PCAP_ERROR_RFMON_NOTSUP:
      return " — this device cannot capture in monitor mode";
    default:
      return "";
  }
}

// "eth9: No such device exists (SIOCGIFHWADDR: No such device)". libpcap fills pcap_geterr only for
// some statuses, so its text is added when present and not already the whole story.
std::string ActivateMessage(const std::string& device, pcap_t* handle, int status) {
  std::string message = device + ": " + pcap_statustostr(status);
  const char* detail = pcap_geterr(handle);
  if (detail != nullptr && detail[0] != '\0' && std::strcmp(detail, pcap_statustostr(status)) != 0) {
    message += std::string(" (") + detail + ")";
  }
  return message + HintFor(status);
}

}  // namespace

LiveSession* LiveSession::Open(napi_env env, const LiveOptions& options, std::vector<std::string>* warnings,
                               OpenFailure* failure) {
  char errbuf[PCAP_ERRBUF_SIZE] = {0};
  pcap_t* handle = pcap_create(options.device.c_str(), errbuf);
  if (handle == nullptr) {
    failure->message = options.device + ": " + errbuf;
    return nullptr;
  }
  auto fail = [&](int status, const std::string& message) -> LiveSession* {
    failure->reason = PcapStatusName(status);
    failure->message = message;
    pcap_close(handle);
    return nullptr;
  };

  pcap_set_snaplen(handle, options.snaplen);
  pcap_set_promisc(handle, options.promiscuous ? 1 : 0);
  pcap_set_timeout(handle, options.timeoutMs);
  if (options.immediate) pcap_set_immediate_mode(handle, 1);
  if (options.bufferSize > 0) pcap_set_buffer_size(handle, options.bufferSize);
  if (options.monitor) {
    int status = pcap_set_rfmon(handle, 1);
    if (status != 0) return fail(status, ActivateMessage(options.device, handle, status));
  }
  if (options.nanosecond && pcap_set_tstamp_precision(handle, PCAP_TSTAMP_PRECISION_NANO) != 0) {
    warnings->push_back(options.device + ": nanosecond timestamps not supported; using microseconds");
  }

  int status = pcap_activate(handle);
  if (status < 0) return fail(status, ActivateMessage(options.device, handle, status));
  if (status > 0) {
    const char* detail = pcap_geterr(handle);
    std::string text = options.device + ": " + pcap_statustostr(status);
    if (status == PCAP_WARNING && detail != nullptr && detail[0] != '\0') text += std::string(" (") + detail + ")";
    warnings->push_back(text);
  }

  if (options.direction != PCAP_D_INOUT && pcap_setdirection(handle, options.direction) != 0) {
    return fail(PCAP_ERROR, options.device + ": cannot set capture direction: " + pcap_geterr(handle));
  }
  if (pcap_setnonblock(handle, 1, errbuf) != 0) {
    return fail(PCAP_ERROR, options.device + ": cannot make the handle non-blocking: " + errbuf);
  }
  if (pcap_get_selectable_fd(handle) < 0) {
    return fail(PCAP_ERROR, options.device + ": libpcap has no selectable file descriptor on this platform");
  }

  LiveSession* session = new LiveSession(env, handle, options);
  if (options.hasFilter && !session->SetFilter(options.filter, failure)) {
    session->Close();
    session->DetachFacade();
    return nullptr;
  }
  return session;
}

LiveSession::LiveSession(napi_env env, pcap_t* handle, const LiveOptions& options)
    : env_(env), pcap_(handle), device_(options.device), immediate_(options.immediate),
      batchPackets_(options.batchPackets) {
  linkType_ = DltToLinktype(pcap_datalink(handle));
  snaplen_ = pcap_snapshot(handle);
  nanosecond_ = pcap_get_tstamp_precision(handle) == PCAP_TSTAMP_PRECISION_NANO;

  // The staging buffer always has room for at least two records of maximal size, so a packet taken out
  // of the ring is never lost for lack of space (AppendRecord stops the batch before that can happen).
  maxRecordBytes_ = kBatchRecordHeader + static_cast<size_t>(snaplen_);
  staging_.resize(std::max(options.batchBytes, 2 * maxRecordBytes_));

  // With TPACKET_V3 and immediate mode off, packets become readable when a ring block is full or its
  // timeout expires; the kernel normally wakes poll() then, but a periodic drain makes delivery within
  // about one timeout certain. libpcap may also demand a timer (pcap_get_required_select_timeout).
  const timeval* required = pcap_get_required_select_timeout(handle);
  if (required != nullptr) {
    timerIntervalMs_ = static_cast<int>(required->tv_sec * 1000 + required->tv_usec / 1000);
  } else if (!options.immediate) {
    timerIntervalMs_ = options.timeoutMs;
  }
  if (timerIntervalMs_ > 0) timerIntervalMs_ = std::max(timerIntervalMs_, kMinTimerIntervalMs);

  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &poll_, pcap_get_selectable_fd(handle));
  uv_timer_init(loop, &timer_);
  poll_.data = this;
  timer_.data = this;
  pollInitialized_ = true;

  napi_add_async_cleanup_hook(env, &LiveSession::OnEnvCleanup, this, &cleanupHook_);
}

LiveSession::~LiveSession() = default;

void LiveSession::Bind(Napi::Object owner, Napi::Function onBatch, Napi::Function onError) {
  owner_ = Napi::Persistent(owner);  // strong: an open handle is never garbage collected
  onBatch_ = Napi::Persistent(onBatch);
  onError_ = Napi::Persistent(onError);
  asyncContext_ = std::make_unique<Napi::AsyncContext>(Napi::Env(env_), "PcapPipeCapture", owner);
}

void LiveSession::Start() {
  if (state_ != State::kOpen) return;
  state_ = State::kRunning;
  StartWatching();
}

void LiveSession::Pause() {
  if (state_ != State::kRunning) return;
  state_ = State::kPaused;
  StopWatching();
}

void LiveSession::Resume() {
  if (state_ != State::kPaused) return;
  state_ = State::kRunning;
  StartWatching();
}

void LiveSession::StartWatching() {
  uv_poll_start(&poll_, UV_READABLE, &LiveSession::OnPoll);
  if (timerIntervalMs_ > 0) uv_timer_start(&timer_, &LiveSession::OnTimer, timerIntervalMs_, timerIntervalMs_);
}

void LiveSession::StopWatching() {
  uv_poll_stop(&poll_);
  uv_timer_stop(&timer_);
}

void LiveSession::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<LiveSession*>(handle->data);
  if (status < 0) {
    self->Fail(std::string("polling the capture handle failed: ") + uv_strerror(status));
    return;
  }
  self->DrainAndDeliver();
}

void LiveSession::OnTimer(uv_timer_t* handle) {
  auto* self = static_cast<LiveSession*>(handle->data);
  self->DrainAndDeliver();
  // Direct mode: what a quiet link captured reaches the file within about one timeout, as in JS mode.
  if (self->writer_ && self->state_ == State::kRunning && self->blockUsed_ > 0) self->SubmitBlock();
}

void LiveSession::OnPacket(u_char* user, const pcap_pkthdr* header, const u_char* bytes) {
  reinterpret_cast<LiveSession*>(user)->AppendRecord(header, bytes);
}

void LiveSession::AppendRecord(const pcap_pkthdr* header, const u_char* bytes) {
  size_t caplen = header->caplen;
  size_t room = outSize_ - outUsed_ - kBatchRecordHeader;
  if (caplen > room) {  // cannot happen while caplen <= snaplen; keep the record, cut to fit
    caplen = room;
    truncatedRecords_++;
  }
  uint8_t* out = out_ + outUsed_;
  uint32_t fraction = static_cast<uint32_t>(header->ts.tv_usec);  // ns when the precision is nano
  WriteU32LE(out, static_cast<uint32_t>(header->ts.tv_sec));
  WriteU32LE(out + 4, nanosecond_ ? fraction : fraction * 1000);
  WriteU32LE(out + 8, static_cast<uint32_t>(caplen));
  WriteU32LE(out + 12, header->len);
  std::memcpy(out + kBatchRecordHeader, bytes, caplen);
  outUsed_ += kBatchRecordHeader + caplen;
  batchCount_++;

  if (outSize_ - outUsed_ < maxRecordBytes_) {
    batchFull_ = true;
    pcap_breakloop(pcap_);
  }
}

bool LiveSession::FillBatch(std::string* error, uint32_t limit) {
  batchCount_ = 0;
  batchFull_ = outSize_ - outUsed_ < maxRecordBytes_;
  // A breakloop flag left set by the previous batch (when its last dispatch ended on its own) makes
  // the first dispatch return PCAP_ERROR_BREAK with no packets; one retry clears it.
  int staleBreaks = 0;
  while (batchCount_ < limit && !batchFull_) {
    int n = pcap_dispatch(pcap_, static_cast<int>(limit - batchCount_), &LiveSession::OnPacket,
                          reinterpret_cast<u_char*>(this));
    if (n == PCAP_ERROR_BREAK) {
      if (batchFull_ || ++staleBreaks > 1) break;
      continue;
    }
    if (n < 0) {
      *error = pcap_geterr(pcap_);
      return false;
    }
    if (n == 0) break;
  }
  return true;
}

void LiveSession::DrainAndDeliver() {
  if (state_ != State::kRunning || teardown_) return;
  if (writer_) {
    DrainToWriter();
    return;
  }
  std::string error;
  out_ = staging_.data();
  outSize_ = staging_.size();
  outUsed_ = 0;
  if (!FillBatch(&error, batchPackets_)) {
    Fail(error);
    return;
  }
  if (batchCount_ == 0) return;
  Napi::Env env(env_);
  Napi::HandleScope scope(env);
  Napi::Buffer<uint8_t> batch = Napi::Buffer<uint8_t>::Copy(env, out_, outUsed_);
  CallJs(onBatch_, {batch, Napi::Number::New(env, batchCount_)});
  // JS may have closed or paused us; the level-triggered poll brings us back for anything left.
}

Napi::Value LiveSession::ReadBatch(Napi::Env env) {
  if (state_ == State::kClosed) return Napi::Buffer<uint8_t>::New(env, 0);
  if (writer_) return Napi::Buffer<uint8_t>::New(env, 0);  // direct mode: packets never come to JS
  std::string error;
  out_ = staging_.data();
  outSize_ = staging_.size();
  outUsed_ = 0;
  if (!FillBatch(&error, batchPackets_)) {
    ThrowCoded(env, kCodeLive, error);
    return env.Undefined();
  }
  return Napi::Buffer<uint8_t>::Copy(env, out_, outUsed_);
}

bool LiveSession::WriteTo(int fd, uint64_t maxPackets, std::string* error) {
  if (state_ != State::kOpen || writer_) {
    *error = "writeTo() must be called once, before start()";
    return false;
  }
  maxPackets_ = maxPackets;
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env_, &loop);
  uv_async_init(loop, &writerAsync_, &LiveSession::OnWriterWake);
  writerAsync_.data = this;
  writerAsyncOpen_ = true;
  // Blocks as big as a JS batch (at least two records of maximal size); a few, so the disk can lag a
  // little behind the ring without the loop stopping, and memory stays bounded.
  size_t blockBytes = std::max(staging_.size(), 2 * maxRecordBytes_);
  uv_async_t* async = &writerAsync_;
  writer_ = std::make_unique<BlockWriter>(fd, blockBytes, kWriterBlocks, [async] { uv_async_send(async); });
  staging_ = std::vector<uint8_t>();  // not used in direct mode
  return true;
}

// Direct mode, on the loop: fills the open block across wake-ups (one write per block, not per wake-up)
// and hands it to the writer when full; at most kWriterRoundsPerWake blocks per wake-up, so a flood
// cannot hold the loop, as in JS mode.
void LiveSession::DrainToWriter() {
  for (int round = 0; round < kWriterRoundsPerWake && state_ == State::kRunning; round++) {
    if (block_ == nullptr) {
      block_ = writer_->Acquire();
      if (block_ == nullptr) {  // every block is queued: let the kernel ring hold packets meanwhile
        waitingForBlock_ = true;
        StopWatching();
        return;
      }
      blockUsed_ = 0;
    }
    out_ = block_;
    outSize_ = writer_->blockBytes();
    outUsed_ = blockUsed_;
    uint64_t left = maxPackets_ > 0 ? maxPackets_ - written_ : kMaxBatchPackets;
    std::string error;
    if (!FillBatch(&error, static_cast<uint32_t>(std::min<uint64_t>(left, kMaxBatchPackets)))) {
      Fail(error);
      return;
    }
    blockUsed_ = outUsed_;
    written_ += batchCount_;
    if (batchFull_) SubmitBlock();
    if (maxPackets_ > 0 && written_ >= maxPackets_) {
      Close();
      return;
    }
    if (!batchFull_) {  // the ring is empty
      // Immediate mode promises packets without delay: to the file now, not when the block is full.
      if (immediate_ && blockUsed_ > 0) SubmitBlock();
      return;
    }
  }
}

void LiveSession::SubmitBlock() {
  if (block_ == nullptr) return;
  writer_->Submit(block_, blockUsed_);
  block_ = nullptr;
  blockUsed_ = 0;
}

int64_t LiveSession::DrainToWriterAll(std::string* error) {
  if (!writer_ || state_ == State::kClosed) return 0;
  uint64_t before = written_;
  for (;;) {
    if (maxPackets_ > 0 && written_ >= maxPackets_) break;
    if (block_ == nullptr) {
      block_ = writer_->AcquireWait();
      blockUsed_ = 0;
    }
    out_ = block_;
    outSize_ = writer_->blockBytes();
    outUsed_ = blockUsed_;
    uint64_t left = maxPackets_ > 0 ? maxPackets_ - written_ : kMaxBatchPackets;
    if (!FillBatch(error, static_cast<uint32_t>(std::min<uint64_t>(left, kMaxBatchPackets)))) return -1;
    blockUsed_ = outUsed_;
    written_ += batchCount_;
    if (batchFull_) SubmitBlock();
    else if (batchCount_ == 0) break;
  }
  return static_cast<int64_t>(written_ - before);
}

void LiveSession::OnWriterWake(uv_async_t* handle) { static_cast<LiveSession*>(handle->data)->WriterWoke(); }

// The writer freed a block the loop waited for, failed, or finished after Close.
void LiveSession::WriterWoke() {
  if (!writer_ || writerFinished_) return;
  std::string error = writer_->Error();
  if (!error.empty() && !writerFailed_) {
    writerFailed_ = true;
    Fail("writing the capture failed: " + error);  // closes: the writer drops the rest and finishes
  }
  if (waitingForBlock_ && state_ == State::kRunning && writer_->HasFree()) {
    waitingForBlock_ = false;
    StartWatching();
  }
  if (state_ == State::kClosed && writer_->Done()) {
    writerFinished_ = true;
    writer_->Join();
    if (!writerFailed_) {
      Napi::Env env(env_);
      Napi::HandleScope scope(env);
      CallJs(onBatch_, {env.Null(), Napi::Number::New(env, static_cast<double>(written_))});
    }
    writerAsyncOpen_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&writerAsync_), &LiveSession::OnHandleClosed);
  }
}

void LiveSession::CallJs(Napi::FunctionReference& fn, std::initializer_list<napi_value> args) {
  if (teardown_ || !facadeAlive_ || fn.IsEmpty()) return;
  Napi::Env env(env_);
  Napi::HandleScope scope(env);
  // MakeCallback, not Call: runs process.nextTick and promise jobs afterwards and keeps async context,
  // as every libuv-driven callback in Node core does.
  fn.MakeCallback(owner_.Value(), args, *asyncContext_);
  if (env.IsExceptionPending()) {
    // A throwing data handler is an uncaught exception of the process, as it would be for a socket.
    napi_fatal_exception(env_, env.GetAndClearPendingException().Value());
  }
}

void LiveSession::Fail(const std::string& message) {
  Close();
  Napi::Env env(env_);
  Napi::HandleScope scope(env);
  CallJs(onError_, {Napi::String::New(env, message)});
}

bool LiveSession::Stats(LiveStats* out, std::string* error) {
  if (state_ == State::kClosed) {
    *out = finalStats_;
    if (!haveFinalStats_) *error = "statistics are not available";
    return haveFinalStats_;
  }
  pcap_stat raw{};
  if (pcap_stats(pcap_, &raw) != 0) {
    *error = pcap_geterr(pcap_);
    return false;
  }
  out->received = raw.ps_recv;
  out->dropped = raw.ps_drop;
  out->ifDropped = raw.ps_ifdrop;
  return true;
}

int LiveSession::Inject(const void* data, size_t length, std::string* error) {
  if (state_ == State::kClosed) {
    *error = "the capture handle is closed";
    return -1;
  }
  int written = pcap_inject(pcap_, data, length);
  if (written < 0) *error = pcap_geterr(pcap_);
  return written;
}

bool LiveSession::SetFilter(const std::string& expression, OpenFailure* failure) {
  if (state_ == State::kClosed) {
    failure->message = "the capture handle is closed";
    return false;
  }
  bpf_u_int32 net = 0;
  bpf_u_int32 mask = PCAP_NETMASK_UNKNOWN;
  char errbuf[PCAP_ERRBUF_SIZE] = {0};
  // The netmask only matters for "ip broadcast"; devices without IPv4 (lo in a netns, any) have none.
  if (pcap_lookupnet(device_.c_str(), &net, &mask, errbuf) != 0) mask = PCAP_NETMASK_UNKNOWN;
  bpf_program program{};
  if (pcap_compile(pcap_, &program, expression.c_str(), 1, mask) != 0) {
    failure->code = kCodeBpf;
    failure->reason = "ERROR";
    failure->message = "invalid filter \"" + expression + "\": " + pcap_geterr(pcap_);
    return false;
  }
  int status = pcap_setfilter(pcap_, &program);
  pcap_freecode(&program);
  if (status != 0) {
    failure->message = "cannot install filter \"" + expression + "\": " + pcap_geterr(pcap_);
    return false;
  }
  return true;
}

void LiveSession::Close() {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  pcap_stat raw{};
  if (pcap_stats(pcap_, &raw) == 0) {
    finalStats_ = {raw.ps_recv, raw.ps_drop, raw.ps_ifdrop};
    haveFinalStats_ = true;
  }
  // Direct mode: the open block is written, then the writer finishes and wakes us (WriterWoke).
  if (writer_) {
    SubmitBlock();
    writer_->Finish();
  }
  // Stop watching the fd before libpcap closes it; the uv handles are freed asynchronously.
  if (pollInitialized_) {
    pendingHandleCloses_ = writerAsyncOpen_ ? 3 : 2;
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), &LiveSession::OnHandleClosed);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &LiveSession::OnHandleClosed);
  }
  pcap_close(pcap_);
  pcap_ = nullptr;
  if (!pollInitialized_) {
    handlesClosed_ = true;
    MaybeDelete();
  }
}

void LiveSession::OnHandleClosed(uv_handle_t* handle) {
  auto* self = static_cast<LiveSession*>(handle->data);
  if (--self->pendingHandleCloses_ > 0) return;
  self->handlesClosed_ = true;
  // The environment is still alive here (an async cleanup hook holds it), so references can be released.
  self->owner_.Reset();
  self->onBatch_.Reset();
  self->onError_.Reset();
  self->asyncContext_.reset();
  if (self->cleanupHook_ != nullptr) {
    napi_async_cleanup_hook_handle hook = self->cleanupHook_;
    self->cleanupHook_ = nullptr;
    napi_remove_async_cleanup_hook(hook);  // during teardown this tells Node we are done
  }
  self->MaybeDelete();
}

void LiveSession::OnEnvCleanup(napi_async_cleanup_hook_handle handle, void* arg) {
  auto* self = static_cast<LiveSession*>(arg);
  self->teardown_ = true;
  self->Close();
}

void LiveSession::DetachFacade() {
  facadeAlive_ = false;
  Close();
  MaybeDelete();
}

void LiveSession::MaybeDelete() {
  if (handlesClosed_ && !facadeAlive_) delete this;
}

}  // namespace pcap_pipe
