/**
 * What the share dialog offers under a sharing policy (`GET convshare/api/policy`): only the
 * allowed expiry presets, and short reasons naming the level that set each limit. (The
 * dialog itself runs in a real JupyterLab in tests/test_lab_policy.py.)
 */

import { IInfo, IPolicy } from '../api';
import { policyReasons, withinPolicy } from '../dialog';

const INFO = {
  default_expires: '30d',
  expiry_presets: ['1h', '24h', '7d', '30d', 'never']
} as IInfo;

function policy(changes: Partial<IPolicy['policy']>, presets: string[], fallback: string | null): IPolicy {
  return {
    user: 'ada',
    policy: { max_expires_seconds: null, allow_never: true, allow_link: true, allow_reshare: true, ...changes },
    sources: { max_expires_seconds: 'group:students', allow_link: 'server', allow_reshare: 'user:ada' },
    expiry_presets: presets,
    default_expires: fallback
  };
}

describe('withinPolicy', () => {
  it('keeps only the presets the policy allows and its default', () => {
    const capped = policy({ max_expires_seconds: 604800, allow_never: false }, ['1h', '24h', '7d'], '7d');
    const info = withinPolicy(INFO, capped);
    expect(info.expiry_presets).toEqual(['1h', '24h', '7d']);
    expect(info.default_expires).toBe('7d');
  });

  it("leaves an older server's settings alone", () => {
    expect(withinPolicy(INFO, null)).toBe(INFO);
  });

  it('keeps the full menu when no preset fits (the server applies the cap)', () => {
    expect(withinPolicy(INFO, policy({ max_expires_seconds: 600 }, [], null))).toBe(INFO);
  });
});

describe('policyReasons', () => {
  it('names each limit and its level', () => {
    const strict = policy({ max_expires_seconds: 604800, allow_link: false, allow_reshare: false }, ['1h'], '1h');
    expect(policyReasons(strict)).toEqual([
      'Your sharing policy (group:students) limits links to 7 days.',
      'Your sharing policy (server) allows no links for anyone: only people you grant access can open it.',
      'Your sharing policy (user:ada) does not allow resharing.'
    ]);
  });

  it('says nothing without limits', () => {
    expect(policyReasons(policy({}, INFO.expiry_presets, '30d'))).toEqual([]);
    expect(policyReasons(null)).toEqual([]);
  });
});
