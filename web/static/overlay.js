// The OBS browser-source overlay: transparent, no buttons.
import { follow, tile } from "/assets/overlay-lib.js";

const streamId = decodeURIComponent(location.pathname.split("/").pop());
const el = document.getElementById("overlay");
follow(streamId, null, (ev) => {
  el.replaceChildren(...ev.pinned.map((p) => tile(p, ev.highlighted && ev.highlighted.id === p.product.id)));
});
