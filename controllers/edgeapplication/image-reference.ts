/**
 * Container image references split into the components KubeEdge's
 * imageOverriders address: Registry (the domain, with its port), Repository
 * (the path) and Tag (the tag, or the digest when there is no tag).
 *
 * The grammar is the OCI distribution reference grammar
 * (github.com/distribution/reference `regexp.go`). Like KubeEdge's parser,
 * nothing is normalised: `nginx` has no registry (it is not expanded to
 * `docker.io/library/nginx`), so a Registry `replace` gives `my.registry/nginx`.
 */
import { OutpostError } from '../../lib/errors.ts';

export interface ImageReference {
  /** Domain with optional port, e.g. `registry.example.com:5000`; '' when absent. */
  registry: string;
  /** Path, e.g. `library/nginx`. */
  repository: string;
  /** '' when absent. */
  tag: string;
  /** `algorithm:hex`; '' when absent. */
  digest: string;
}

const pathComponent = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const ipv6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const domain = `(?:${domainComponent}(?:\\.${domainComponent})*|${ipv6})(?::[0-9]+)?`;
const tagRe = /^[\w][\w.-]{0,127}$/;
const digestRe = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const repositoryRe = new RegExp(`^${pathComponent}(?:/${pathComponent})*$`);
const registryRe = new RegExp(`^${domain}$`);

/** A string that is not a valid image reference (or component). */
export class ImageReferenceError extends OutpostError<'EDGEAPP_INVALID_IMAGE'> {
  constructor(message: string) {
    super('EDGEAPP_INVALID_IMAGE', message);
  }
}

export const isValidTag = (s: string): boolean => tagRe.test(s);
export const isValidDigest = (s: string): boolean => digestRe.test(s);
export const isValidRepository = (s: string): boolean => repositoryRe.test(s) && s.length <= 255;
export const isValidRegistry = (s: string): boolean => registryRe.test(s);

/**
 * Parses `image`. Throws ImageReferenceError when it does not follow the
 * reference grammar (for example upper-case letters in the path, an empty
 * tag, a malformed digest).
 */
export function parseImage(image: string): ImageReference {
  let rest = image;
  let digest = '';
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isValidDigest(digest)) throw new ImageReferenceError(`image "${image}" has an invalid digest "${digest}" (expected algorithm:hex, e.g. sha256:<64 hex digits>)`);
  }
  let tag = '';
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isValidTag(tag)) throw new ImageReferenceError(`image "${image}" has an invalid tag "${tag}" (1-128 of [A-Za-z0-9_.-], not starting with . or -)`);
  }
  // The first path component is a registry when it looks like a host: it has
  // a dot or a port, is "localhost", or has upper-case letters (distribution's
  // splitDomain).
  let registry = '';
  let repository = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
      registry = first;
      repository = rest.slice(slash + 1);
    }
  }
  if (registry && !isValidRegistry(registry)) throw new ImageReferenceError(`image "${image}" has an invalid registry "${registry}"`);
  if (!isValidRepository(repository)) {
    throw new ImageReferenceError(`image "${image}" has an invalid repository "${repository}" (lower-case path components of [a-z0-9] separated by "/", ".", "_", "__" or "-")`);
  }
  return { registry, repository, tag, digest };
}

/** The inverse of parseImage: `[registry/]repository[:tag][@digest]`. */
export function formatImage(ref: ImageReference): string {
  const name = ref.registry ? `${ref.registry}/${ref.repository}` : ref.repository;
  return `${name}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}
