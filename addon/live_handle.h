// The JS face of a LiveSession.
//
// JS: new LiveHandle(options, onBatch(batch: Buffer, count: number), onError(message: string))
//     .start() .pause() .resume() .close()          (close is idempotent and safe inside onBatch)
//     .readBatch(): Buffer                          (synchronous bounded drain; empty when nothing waits)
//     .writeTo(fd, maxPackets)                      (direct mode, before start: the addon writes pcap
//                                                    records to fd; onBatch(null, written) at the end)
//     .drain(): number                              (direct mode: the whole ring into the writer)
//     .stats(): { received, dropped, ifDropped }
//     .inject(frame: Buffer): number
//     .setFilter(expression: string): void
//     .linkType .linkTypeName .snaplen .nanosecond .warnings .closed
#pragma once

#include <napi.h>

#include <string>
#include <vector>

#include "live_session.h"

namespace pcap_pipe {

class LiveHandle : public Napi::ObjectWrap<LiveHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit LiveHandle(const Napi::CallbackInfo& info);
  ~LiveHandle() override;

 private:
  // Returns the open session, or throws "closed" and returns nullptr.
  LiveSession* OpenSession(Napi::Env env);

  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Pause(const Napi::CallbackInfo& info);
  Napi::Value Resume(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value ReadBatch(const Napi::CallbackInfo& info);
  Napi::Value WriteTo(const Napi::CallbackInfo& info);
  Napi::Value Drain(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Inject(const Napi::CallbackInfo& info);
  Napi::Value SetFilter(const Napi::CallbackInfo& info);
  Napi::Value GetLinkType(const Napi::CallbackInfo& info);
  Napi::Value GetLinkTypeName(const Napi::CallbackInfo& info);
  Napi::Value GetSnaplen(const Napi::CallbackInfo& info);
  Napi::Value GetNanosecond(const Napi::CallbackInfo& info);
  Napi::Value GetWarnings(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);

  LiveSession* session_ = nullptr;
  std::vector<std::string> warnings_;
  int linkType_ = 0;
  int snaplen_ = 0;
  bool nanosecond_ = false;
};

}  // namespace pcap_pipe
