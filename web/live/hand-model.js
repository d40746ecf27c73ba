// The live view's hand: forward kinematics from the 20 joint angles to 3-D points, and the
// projection the page draws them with. docs/live-view.md states the model (frame, segment
// lengths, angle conventions). Kept free of the DOM so that Node can test it too.

/** Millimetres. Base points are where each finger's MCP (the thumb's CMC) sits on the palm. */
export const FINGERS = {
  INDEX: { base: [24, 86, 0], lengths: [40, 23, 17] },
  MIDDLE: { base: [4, 90, 0], lengths: [45, 27, 18] },
  RING: { base: [-15, 85, 0], lengths: [42, 26, 18] },
  PINKY: { base: [-32, 76, 0], lengths: [33, 18, 16] },
};
export const THUMB = { base: [22, 14, 0], lengths: [46, 32, 25], restAngle: Math.PI / 4 };
export const WRIST = [
  [26, 0, 0],
  [-26, 0, 0],
];

function angle(angles, index, name) {
  const i = index[name];
  const v = i === undefined ? 0 : angles[i];
  return Number.isFinite(v) ? v : 0;
}

function add(p, d, len) {
  return [p[0] + d[0] * len, p[1] + d[1] * len, p[2] + d[2] * len];
}

/**
 * Frame: origin at the middle of the wrist, +y toward the fingertips, +x toward the thumb
 * (radial), +z out of the back of the hand. Positive flexion bends toward the palm (−z),
 * positive MCP abduction turns a finger toward the thumb, positive thumb CMC flexion turns the
 * thumb across the palm (−x), positive thumb CMC abduction lifts it out of the palm plane
 * toward the palm side. Returns one polyline per digit, base first, and the palm outline.
 */
export function handPoints(angles, jointNames) {
  const index = {};
  jointNames.forEach((n, i) => {
    index[n] = i;
  });
  const digits = {};
  for (const [f, def] of Object.entries(FINGERS)) {
    const ab = angle(angles, index, f + '_MCP_AA');
    let phi = 0;
    let p = def.base;
    const pts = [p];
    ['_MCP_FE', '_PIP_FE', '_DIP_FE'].forEach((j, k) => {
      phi += angle(angles, index, f + j);
      const c = Math.cos(phi);
      p = add(p, [Math.sin(ab) * c, Math.cos(ab) * c, -Math.sin(phi)], def.lengths[k]);
      pts.push(p);
    });
    digits[f] = pts;
  }
  const alpha = THUMB.restAngle - angle(angles, index, 'THUMB_CMC_FE');
  const el = angle(angles, index, 'THUMB_CMC_AA');
  const u = [Math.sin(alpha) * Math.cos(el), Math.cos(alpha) * Math.cos(el), -Math.sin(el)];
  const fl = [-Math.cos(alpha), Math.sin(alpha), 0];
  let p = add(THUMB.base, u, THUMB.lengths[0]);
  const thumb = [THUMB.base, p];
  let phi = 0;
  ['THUMB_MCP_FE', 'THUMB_IP_FE'].forEach((j, k) => {
    phi += angle(angles, index, j);
    const c = Math.cos(phi),
      s = Math.sin(phi);
    p = add(p, [u[0] * c + fl[0] * s, u[1] * c + fl[1] * s, u[2] * c + fl[2] * s], THUMB.lengths[k + 1]);
    thumb.push(p);
  });
  digits.THUMB = thumb;
  const palm = [
    WRIST[0],
    THUMB.base,
    FINGERS.INDEX.base,
    FINGERS.MIDDLE.base,
    FINGERS.RING.base,
    FINGERS.PINKY.base,
    WRIST[1],
  ];
  return { digits, palm };
}

/**
 * Orthographic view of the back of a right hand, tilted 35° about the radial axis (fingertips
 * away from the viewer) so that flexion shows as the finger folding down the screen. Returns
 * screen x (thumb on the left), screen y (down) in millimetres, and depth.
 */
export function project(p, tilt = (35 * Math.PI) / 180) {
  const y = p[1] * Math.cos(tilt) + p[2] * Math.sin(tilt);
  const z = -p[1] * Math.sin(tilt) + p[2] * Math.cos(tilt);
  return [-p[0], -y, z];
}
