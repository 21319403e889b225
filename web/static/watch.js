// The stream viewer: WHEP playback plus the shoppable overlay.
import { gql, newKey, notice, errorText, token } from "/assets/lib.js";
import { follow, tile } from "/assets/overlay-lib.js";

const streamId = decodeURIComponent(location.pathname.split("/").pop());
const video = document.getElementById("video");
const shelf = document.getElementById("overlay");

async function play() {
  const pc = new RTCPeerConnection();
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  // One stream for every track: a later ontrack (audio) must not replace the video.
  const media = new MediaStream();
  video.srcObject = media;
  pc.ontrack = (e) => media.addTrack(e.track);
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((r) => { if (pc.iceGatheringState === "complete") r(); else pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && r(); setTimeout(r, 2000); });
  const res = await fetch("/live/" + streamId + "/whep", { method: "POST", headers: { "Content-Type": "application/sdp" }, body: pc.localDescription.sdp });
  if (res.status !== 201) {
    pc.close();
    const busy = res.status === 429 || res.status === 503;
    notice(res.status === 409 ? "The stream is not live right now."
      : busy ? (await res.text()).trim() || "The stream is full right now." : "Could not start the stream.");
    const wait = busy ? Math.min(Math.max(Number(res.headers.get("Retry-After")) || 30, 5), 120) : 5;
    setTimeout(play, wait * 1000);
    return;
  }
  await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
  document.getElementById("live-badge").hidden = false;
  pc.onconnectionstatechange = () => { if (pc.connectionState === "failed") { pc.close(); setTimeout(play, 2000); } };
}

async function buy(variant) {
  if (!token()) { location.href = "/signin?next=" + encodeURIComponent(location.pathname); return; }
  try {
    await gql("mutation($i: AddToCartInput!) { addToCart(input: $i) { cart { id } } }",
      { i: { variantId: variant.id, quantity: 1, streamId, idempotencyKey: newKey() } });
    notice("Added — it is held for you in your cart.", "ok");
  } catch (e) { notice(errorText(e)); }
}

follow(streamId, video, (ev) => {
  document.getElementById("title").textContent = ev.stream.title;
  document.getElementById("viewers").textContent = ev.viewerCount + " watching";
  shelf.replaceChildren(...ev.pinned.map((p) => tile(p, ev.highlighted && ev.highlighted.id === p.product.id, buy)));
});
play().catch((e) => notice(String(e)));
